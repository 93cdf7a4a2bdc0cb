"""V3 nodes ``TrickleInput`` and ``TrickleOutput``. Imported only by ComfyUI (via ``extension``).

Inside a stream prompt (its prompt id is registered by the driver) they exchange frames with the
stream; in a prompt queued from the editor they use a test pattern (or the newest frame of a
running stream) and show a preview in the node.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from typing import Any

from comfy_api.latest import io, ui
from comfy_execution.graph_utils import ExecutionBlocker

from .bindings import (
    REGISTRY,
    FramePictures,
    Ticket,
    deliver,
    remember_image,
    take_frame,
    unchanged_picture,
)
from .convert import frame_to_image, frames_to_image, image_to_frame
from .frame_plan import OWN_NODES, BatchRefused
from .lease import HOST_NODE, serve_lease
from .pattern import test_pattern

log = logging.getLogger(__name__)

CATEGORY = "trickle"
_editor_counter = itertools.count()


def current_prompt_id() -> str | None:
    """Id of the prompt running on this (worker) thread."""
    try:
        from comfy_execution.utils import get_executing_context

        context = get_executing_context()
        if context is not None:
            return str(context.prompt_id)
    except ImportError:  # older ComfyUI: fall back to the server's record
        pass
    from server import PromptServer

    pid = getattr(PromptServer.instance, "last_prompt_id", None)
    return None if pid is None else str(pid)


def current_ticket() -> Ticket | None:
    return REGISTRY.get(current_prompt_id())


def _check_interrupt() -> None:
    import comfy.model_management

    comfy.model_management.throw_exception_if_processing_interrupted()


def _blocked(count: int) -> io.NodeOutput:
    """Stop the rest of the graph silently (no error event, no traceback)."""
    return io.NodeOutput(*_blockers(count))


def _blockers(count: int) -> list[Any]:
    return [ExecutionBlocker(None) for _ in range(count)]


def _is_blocker(value: Any) -> bool:
    return isinstance(value, ExecutionBlocker)


def _stream_input(ticket: Ticket, convert: bool = True) -> tuple[Any, int, int, int, float] | None:
    """TrickleInput's outputs in a stream prompt; None when there is no frame (blocked).
    ``convert=False`` (a frame plan where only TrickleOutput reads the IMAGE): the frame's own
    picture passes on unconverted (:class:`FramePictures`)."""
    frame = take_frame(ticket, _check_interrupt)
    if frame is None:  # stream ended or stopped, or no frame in time: skip quietly
        return None
    height, width = frame.image.shape[:2]
    if not convert:
        return FramePictures((ticket,)), width, height, frame.index, frame.pts / 90000.0
    began = time.thread_time()
    tensor = frame_to_image(frame.image)
    ticket.convert_s += time.thread_time() - began
    remember_image(ticket, tensor)
    return tensor, width, height, frame.index, frame.pts / 90000.0


def _stream_output(ticket: Ticket, images: Any, index: int = -1) -> None:
    """Deliver picture ``index`` of ``images``: the input's own picture when the graph left the
    IMAGE untouched, else converted back to uint8 (timed into ``Ticket.convert_s``)."""
    picture = unchanged_picture(ticket, images)
    if picture is None:
        began = time.thread_time()
        picture = image_to_frame(images, index)
        ticket.convert_s += time.thread_time() - began
    deliver(ticket, picture)


def _plan_input(
    tickets: Sequence[Ticket], inputs: dict[str, list[Any]], picture_read: bool = True
) -> list[list[Any]]:
    """TrickleInput in a frame plan (``frame_plan.py``): a blocked input blocks it, as in ComfyUI.
    Several tickets (a batch, ``batch.py``): their frames, already taken and of one size, as one
    IMAGE batch in ticket order; ``frame_index`` and ``timestamp`` are the first frame's (a plan
    whose nodes read them is not batched). ``picture_read`` False (no node but TrickleOutput
    reads the IMAGE): :class:`FramePictures` instead of an IMAGE, nothing converted."""
    if any(_is_blocker(v) for values in inputs.values() for v in values):
        return [[b] for b in _blockers(5)]
    if len(tickets) == 1:
        values = _stream_input(tickets[0], convert=picture_read)
        return [[b] for b in _blockers(5)] if values is None else [[v] for v in values]
    frames = [t.frame for t in tickets]
    if any(f is None for f in frames):
        raise BatchRefused("a frame of the batch was not taken")
    first = frames[0]
    assert first is not None
    height, width = first.image.shape[:2]
    image: Any = FramePictures(tuple(tickets))
    if picture_read:
        began = time.thread_time()
        image = frames_to_image([f.image for f in frames if f is not None])
        share = (time.thread_time() - began) / len(tickets)
        for ticket in tickets:
            ticket.convert_s += share
            remember_image(ticket, image)
    return [[image], [width], [height], [first.index], [first.pts / 90000.0]]


def _plan_output(
    tickets: Sequence[Ticket], inputs: dict[str, list[Any]], picture_read: bool = True
) -> list[list[Any]]:
    """TrickleOutput in a frame plan: ComfyUI calls it once per picture of a list input, blocked
    ones skipped; the first delivery counts (``deliver`` is once per ticket). A batch: picture
    ``i`` of the IMAGE goes to ticket ``i``; another batch size raises :class:`BatchRefused`
    before anything is delivered. :class:`FramePictures` (the input's pictures, unconverted):
    each ticket gets its own frame's picture. ``picture_read`` is TrickleInput's alone."""
    for images in inputs.get("images", ()):
        if images is None or _is_blocker(images):
            continue
        if isinstance(images, FramePictures):
            _deliver_own(tickets, images)
            continue
        if len(tickets) == 1:
            _stream_output(tickets[0], images)
            continue
        count = int(images.shape[0]) if getattr(images, "ndim", 0) == 4 else 1
        if count != len(tickets):
            raise BatchRefused(f"the output has {count} pictures for {len(tickets)} frames")
        for index, ticket in enumerate(tickets):
            _stream_output(ticket, images, index)
    return []


def _deliver_own(tickets: Sequence[Ticket], pictures: FramePictures) -> None:
    """Each ticket's own input picture, as it came (a plan that never converted it)."""
    own = pictures.pictures_for(tickets)
    if own is None:
        raise BatchRefused(f"{len(pictures.tickets)} input pictures for {len(tickets)} frames")
    for ticket, picture in zip(tickets, own, strict=True):
        deliver(ticket, picture)


def _test_size_input(name: str, what: str) -> io.Int.Input:
    return io.Int.Input(
        name,
        default=512,
        min=64,
        max=4096,
        step=8,
        optional=True,
        tooltip=f"{what} of the test pattern used when no stream is running.",
    )


class TrickleInput(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="TrickleInput",
            display_name="Trickle Input (live video)",
            category=CATEGORY,
            description=(
                "The current frame of the live stream. Run from the editor with no stream, it gives "
                "a moving test pattern (or the newest frame of a running stream)."
            ),
            inputs=[
                _test_size_input("test_width", "Width"),
                _test_size_input("test_height", "Height"),
            ],
            outputs=[
                io.Image.Output("image", tooltip="The frame as IMAGE [1,H,W,3], float32 in 0..1."),
                io.Int.Output("width", tooltip="Frame width in pixels."),
                io.Int.Output("height", tooltip="Frame height in pixels."),
                io.Int.Output("frame_index", tooltip="Index of the frame in its stream, from 0."),
                io.Float.Output("timestamp", tooltip="Presentation time of the frame in seconds."),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, **kwargs: Any) -> Any:
        return float("nan")  # a new frame every run: never cached

    @classmethod
    def execute(cls, test_width: int = 512, test_height: int = 512) -> io.NodeOutput:
        ticket = current_ticket()
        if ticket is not None:
            values = _stream_input(ticket)
            return _blocked(5) if values is None else io.NodeOutput(*values)
        latest = REGISTRY.latest_frame()
        if latest is not None:
            image, index, pts = latest.image, latest.index, latest.pts
        else:
            index = next(_editor_counter)
            image, pts = test_pattern(test_width, test_height, index), index * 3000
        height, width = image.shape[:2]
        return io.NodeOutput(frame_to_image(image), width, height, index, pts / 90000.0)


class TrickleOutput(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="TrickleOutput",
            display_name="Trickle Output (live video)",
            category=CATEGORY,
            description=(
                "Sends the picture back to the live stream (one output frame per input frame; of "
                "a batch, the last picture is sent). Run from the editor, it shows a preview."
            ),
            is_output_node=True,
            inputs=[
                io.Image.Input(
                    "images", tooltip="The processed frame (IMAGE). Of a batch, the last is sent."
                ),
            ],
            outputs=[],
        )

    @classmethod
    def fingerprint_inputs(cls, **kwargs: Any) -> Any:
        return float("nan")

    @classmethod
    def execute(cls, images: Any) -> io.NodeOutput:
        ticket = current_ticket()
        if ticket is not None:
            _stream_output(ticket, images)
            return io.NodeOutput()
        return io.NodeOutput(ui=ui.PreviewImage(images, cls=cls))


class TrickleStreamHost(io.ComfyNode):
    """Queued by trickle-live itself (a "lease"): runs live frames while ComfyUI's worker is
    busy with it. Added to a graph by hand, it does nothing."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id=HOST_NODE,
            display_name="Trickle Stream Host (internal)",
            category=CATEGORY,
            description=(
                "Internal: trickle-live queues this node to run live frames with ComfyUI's worker. "
                "Adding it to a workflow does nothing."
            ),
            is_output_node=True,
            is_deprecated=True,  # kept out of the node search
            not_idempotent=True,
            inputs=[],
            outputs=[],
        )

    @classmethod
    def fingerprint_inputs(cls, **kwargs: Any) -> Any:
        return float("nan")  # never a cache hit: each lease must run

    @classmethod
    async def execute(cls) -> io.NodeOutput:
        ended = await serve_lease(current_prompt_id())
        if ended is not None:
            log.debug("trickle-live: lease ended (%s)", ended)
        return io.NodeOutput()


NODES: list[type[io.ComfyNode]] = [TrickleInput, TrickleOutput, TrickleStreamHost]
OWN_NODES.update({"TrickleInput": _plan_input, "TrickleOutput": _plan_output})
