"""Which queued prompt belongs to which stream, and the frame hand-off done by the nodes.

The driver (on the server loop) registers a :class:`Ticket` for every stream prompt it queues,
keyed by the prompt id. ``TrickleInput`` / ``TrickleOutput`` (on ComfyUI's prompt worker thread)
look the running prompt id up: found → exchange frames with that stream; not found → the prompt
came from the editor (test pattern / preview). No ComfyUI import here, so it is unit-testable.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..trickle.media.frame_queue import QueueClosed
from ..trickle.media.frames import VideoFrame
from ..trickle.session.processor import FrameIO

log = logging.getLogger(__name__)


class StreamBinding:
    """One running stream as the nodes see it."""

    def __init__(self, io: FrameIO, *, frame_wait: float = 1.0, digests: int = 0) -> None:
        self.io = io
        self.frame_wait = frame_wait
        self.stopped = threading.Event()
        self.ended = threading.Event()  # input closed: no frame will ever come
        self.latest_input: VideoFrame | None = None
        self.latest_output: VideoFrame | None = None
        # TRICKLE_OUTPUT_DIGESTS: the sha1 of the last ``digests`` published pictures by pts
        # (newest last) for ``/trickle/status``; 0 keeps none. For checks that outputs are
        # identical frame by frame (the encoded stream is not: the encoder's prediction depends
        # on which frames came before).
        self.digests: OrderedDict[int, str] | None = OrderedDict() if digests else None
        self.digests_kept = digests
        self.digests_lock = threading.Lock()


def digest(image: np.ndarray) -> str:
    """The picture's sha1 (its uint8 RGB bytes)."""
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


@dataclass
class Ticket:
    """One stream prompt in ComfyUI's queue."""

    prompt_id: str
    binding: StreamBinding
    version: int = 0  # workflow version the prompt was built from
    queued_at: float = field(default_factory=time.monotonic)  # for the stream's timing_ms
    frame: VideoFrame | None = None
    delivered: bool = False
    image: object = None  # the IMAGE TrickleInput made from ``frame`` (identity check on output)
    image_version: int = -1  # its tensor version counter then (in-place changes bump it)
    convert_s: float = 0.0  # worker CPU our nodes spent converting frame <-> IMAGE for it


def _version(tensor: object) -> int:
    """torch's in-place change counter; -1 when the tensor has none (an inference tensor)."""
    try:
        return int(getattr(tensor, "_version", -1))
    except RuntimeError:  # "Inference tensors do not track version counter"
        return -1


def remember_image(ticket: Ticket, image: object) -> None:
    """Note the IMAGE TrickleInput made for this ticket (see :func:`unchanged_picture`)."""
    ticket.image, ticket.image_version = image, _version(image)


def unchanged_picture(ticket: Ticket, image: object) -> np.ndarray | None:
    """The input frame's own picture when ``image`` is the very IMAGE TrickleInput produced for
    this ticket and nothing changed it in place (torch's version counter): a passthrough graph
    then skips the float → uint8 conversion. Otherwise None (also for a tensor without a
    version counter)."""
    if ticket.frame is None or image is None or image is not ticket.image:
        return None
    if ticket.image_version < 0 or _version(image) != ticket.image_version:
        return None
    return ticket.frame.image


@dataclass(frozen=True, eq=False)
class FramePictures:
    """What a frame plan hands on as ``TrickleInput``'s IMAGE when no node but ``TrickleOutput``
    reads it (``frame_plan.picture_readers``): the tickets, whose frames' own uint8 pictures
    ``TrickleOutput`` delivers as they are. No float IMAGE is made and none converted back (one
    3 MB write and its reverse per 512×512 frame). Never seen by any other node."""

    tickets: tuple[Ticket, ...]

    def pictures_for(self, tickets: Sequence[Ticket]) -> list[np.ndarray] | None:
        """Each ticket's own input picture, in order; None unless ``tickets`` are exactly these
        (the same frames, as many) and every one has its frame."""
        if len(tickets) != len(self.tickets):
            return None
        if any(a is not b for a, b in zip(tickets, self.tickets, strict=True)):
            return None
        pictures = [t.frame.image for t in tickets if t.frame is not None]
        return pictures if len(pictures) == len(tickets) else None


class Registry:
    """Thread-safe prompt id → :class:`Ticket` map (one per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tickets: dict[str, Ticket] = {}
        self._bindings: list[StreamBinding] = []

    def add_binding(self, binding: StreamBinding) -> None:
        with self._lock:
            self._bindings.append(binding)

    def remove_binding(self, binding: StreamBinding) -> None:
        with self._lock:
            if binding in self._bindings:
                self._bindings.remove(binding)
            for pid in [p for p, t in self._tickets.items() if t.binding is binding]:
                del self._tickets[pid]

    def active(self) -> int:
        with self._lock:
            return len(self._bindings)

    def add(self, ticket: Ticket) -> None:
        with self._lock:
            self._tickets[ticket.prompt_id] = ticket

    def pop(self, prompt_id: str) -> Ticket | None:
        with self._lock:
            return self._tickets.pop(prompt_id, None)

    def get(self, prompt_id: str | None) -> Ticket | None:
        if prompt_id is None:
            return None
        with self._lock:
            return self._tickets.get(prompt_id)

    def is_stream_prompt(self, prompt_id: str | None) -> bool:
        return self.get(prompt_id) is not None

    def latest_frame(self) -> VideoFrame | None:
        """The newest input frame of any running stream (for editor runs during a stream)."""
        with self._lock:
            bindings = list(self._bindings)
        for binding in reversed(bindings):
            if binding.latest_input is not None:
                return binding.latest_input
        return None


REGISTRY = Registry()


def take_frame(
    ticket: Ticket, check_interrupt: Callable[[], None], poll: float = 0.02
) -> VideoFrame | None:
    """The input frame for this prompt; None when the stream stopped/ended or none came in time.

    Blocks the calling (prompt worker) thread at most ``binding.frame_wait`` seconds, in slices of
    ``poll`` seconds, calling ``check_interrupt`` (which raises on ComfyUI's interrupt) between
    slices. Idempotent per ticket: a second ``TrickleInput`` in the same graph gets the same frame.
    """
    if ticket.frame is not None:
        return ticket.frame
    binding = ticket.binding
    deadline = time.monotonic() + binding.frame_wait
    while not binding.stopped.is_set():
        check_interrupt()
        try:
            frame = binding.io.input.get(timeout=min(poll, max(0.0, deadline - time.monotonic())))
        except QueueClosed:
            binding.ended.set()
            return None
        if frame is not None:
            ticket.frame = frame
            binding.latest_input = frame
            return frame
        if time.monotonic() >= deadline:
            return None
    return None


def deliver(ticket: Ticket, image: np.ndarray) -> bool:
    """Hand the processed picture to the stream, with the input frame's timing. Once per ticket."""
    frame = ticket.frame
    if frame is None or ticket.delivered or ticket.binding.stopped.is_set():
        return False
    out = frame.with_image(image)
    ticket.delivered = True
    ticket.binding.latest_output = out
    digests = ticket.binding.digests
    if digests is not None:
        value = digest(image)
        with ticket.binding.digests_lock:
            digests[frame.pts] = value
            while len(digests) > ticket.binding.digests_kept:
                digests.popitem(last=False)
    ticket.binding.io.output.put(out)
    return True
