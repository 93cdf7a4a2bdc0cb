"""Plain Python frame processors for the standalone runner and the tests: passthrough and invert.

Each runs one worker thread that pulls ``io.input`` and pushes ``io.output`` (the processor
contract in ``processor.py``). A frame that raises is reported as an error (an ``error`` event) and
published unprocessed, so the stream keeps running. Start parameters understood by both:
``load_seconds`` (pretend to load for that long, 0..600; the session publishes the input
meanwhile). Updates: see each class.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ValidationError
from ..media.frame_queue import QueueClosed
from ..media.frames import VideoFrame
from ..validation import choice, in_range, number
from .processor import FrameIO, FrameProcessor, ProcessorState, ProcessorStatus
from .request import StartRequest

log = logging.getLogger(__name__)

POLL_S = 0.1


def _number(params: dict[str, Any], name: str, low: float, high: float) -> float | None:
    if name not in params:
        return None
    value, expected = params[name], f"a number from {low:g} to {high:g}"
    return in_range(name, number(name, value, expected), low, high, expected, received=value)


class ThreadedProcessor(ProcessorStatus):
    """Runs ``transform`` on every frame on a worker thread; subclasses define the transform."""

    name = "threaded"
    # the live parameters it takes, as advertised to gateways (name, type, default, min, max)
    params: tuple[dict[str, Any], ...] = ()

    def __init__(self) -> None:
        self._state = ProcessorState.LOADING
        self._last_error: str | None = None
        self._io: FrameIO | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.frames = 0
        self.failures = 0

    async def start(self, io: FrameIO) -> None:
        load = 0.0
        try:
            load = _number(io.params, "load_seconds", 0, 600) or 0.0
            self.apply(self.validate(io.params))
        except ValidationError as exc:  # bad start params: keep the defaults, say why
            io.report_error(f"start parameters refused: {exc}", exc.as_dict())
        self._io = io
        self._thread = threading.Thread(
            target=self._run, args=(io, load), name=f"{self.name}-{io.stream_id}", daemon=True
        )
        self._thread.start()

    async def update(self, params: dict[str, Any]) -> dict[str, Any]:
        applied = self.validate(params)
        with self._lock:
            self.apply(applied)
        ignored = sorted(set(params) - set(applied))
        if ignored and self._io is not None:
            self._io.report_info("parameters ignored", {"ignored": ignored})
        return applied

    async def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 5.0)
        self._state = ProcessorState.STOPPED
        self._io = None

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """The subset of ``params`` this processor applies; raises ValidationError when invalid."""
        return {}

    def apply(self, params: dict[str, Any]) -> None:
        """Apply validated params (called under the lock, between two frames)."""

    def transform(self, image: np.ndarray) -> np.ndarray:
        return image

    def _run(self, io: FrameIO, load: float) -> None:
        try:
            self._work(io, load)
        except Exception as exc:  # task boundary: the worker thread dies; the stream is told
            log.exception("%s: worker thread failed", self.name)
            self._state = ProcessorState.ERROR
            self._last_error = f"worker stopped: {type(exc).__name__}: {exc}"
            io.fail(self._last_error, {"source": "worker"})

    def _work(self, io: FrameIO, load: float) -> None:
        if load > 0 and self._stop.wait(load):
            return
        self._state = ProcessorState.READY
        while not self._stop.is_set():
            try:
                frame = io.input.get(timeout=POLL_S)
            except QueueClosed:
                break
            if frame is not None:
                io.output.put(self._process(io, frame))

    def _process(self, io: FrameIO, frame: VideoFrame) -> VideoFrame:
        try:
            with self._lock:
                image = self.transform(frame.image)
            self.frames += 1
            return frame.with_image(image)
        except Exception as exc:  # task boundary: one failed frame must not end the stream
            self.failures += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            log.warning("%s: frame %d failed: %s", self.name, frame.index, self._last_error)
            io.report_error(f"processing failed: {self._last_error}", {"frame": frame.index})
            return frame


class PassthroughProcessor(ThreadedProcessor):
    """Publishes every input frame unchanged; updates are accepted and ignored."""

    name = "passthrough"


class InvertProcessor(ThreadedProcessor):
    """Inverts colours. Update ``{"strength": 0..1}`` (1 = full inversion, 0 = unchanged) and
    ``{"delay_ms": 0..1000}`` (extra time per frame, to simulate a slow model)."""

    name = "invert"
    params: tuple[dict[str, Any], ...] = (
        {"name": "delay_ms", "type": "float", "default": 0.0, "min": 0.0, "max": 1000.0},
        {"name": "strength", "type": "float", "default": 1.0, "min": 0.0, "max": 1.0},
    )

    def __init__(self) -> None:
        super().__init__()
        self.strength = 1.0
        self.delay_ms = 0.0

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        applied: dict[str, Any] = {}
        for spec in self.params:
            name = spec["name"]
            value = _number(params, name, spec["min"], spec["max"])
            if value is not None:
                applied[name] = value
        return applied

    def apply(self, params: dict[str, Any]) -> None:
        self.strength = params.get("strength", self.strength)
        self.delay_ms = params.get("delay_ms", self.delay_ms)

    def transform(self, image: np.ndarray) -> np.ndarray:
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000)
        if self.strength >= 1.0:
            return np.subtract(255, image, dtype=np.uint8)
        if self.strength <= 0.0:
            return image
        mixed = image.astype(np.float32) * (1 - 2 * self.strength) + 255 * self.strength
        return mixed.astype(np.uint8)


PROCESSORS: dict[str, type[ThreadedProcessor]] = {
    "passthrough": PassthroughProcessor,
    "invert": InvertProcessor,
}


def processor_schema(name: str) -> dict[str, Any]:
    """What a gateway needs to build a UI for processor ``name``: its live parameters."""
    cls = PROCESSORS[choice("processor", name, list(PROCESSORS), "|".join(PROCESSORS))]
    return {
        "workflow": name,
        "params": [dict(p) for p in cls.params],
        "updates": "named parameters",  # nothing else is applied: other keys are refused
    }


def processor_factory(name: str) -> Callable[[StartRequest], FrameProcessor]:
    """A factory for the manager: a new processor of kind ``name`` for each stream."""
    cls = PROCESSORS[choice("processor", name, list(PROCESSORS), "|".join(PROCESSORS))]

    def make(request: StartRequest) -> FrameProcessor:
        return cls()

    return make
