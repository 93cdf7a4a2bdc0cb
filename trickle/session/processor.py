"""The one interface between a stream session and whatever turns input frames into output frames.

A session owns the transport (trickle channels, decode, encode); a processor owns the work. The
session hands the processor a :class:`FrameIO` when the stream starts: the processor *pulls* input
frames from ``io.input`` and *pushes* results to ``io.output`` from any thread it likes. This fits
both a plain Python function run on a worker thread and ComfyUI, whose ``TrickleInput`` node pulls a
frame on ComfyUI's prompt worker thread and whose ``TrickleOutput`` node pushes the result.

Rules every processor follows:
- ``start`` returns quickly; slow loading happens in the background while ``state`` is LOADING
  (the session publishes the input meanwhile, so the gateway's output watchdog never fires).
- One output frame per input frame it processed, carrying that input frame's pts.
- ``update`` validates before applying and applies between two frames; it returns what was applied
  or raises ``ValidationError`` naming the field, the expected and the received value.
- ``stop`` is idempotent; after it returns, the processor holds no thread, task or reference to
  the session.
- A failure it can recover from (a frame or a prompt that failed) goes to ``io.report_error`` (and
  may set ``state`` to ERROR until it recovers); a failure it cannot go on from (its worker thread
  died) goes to ``io.fail``: the stream then stops with that error.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..media.frame_queue import FrameQueue
from ..media.frames import VideoFrame


class ProcessorState(str, enum.Enum):
    LOADING = "LOADING"
    READY = "READY"
    ERROR = "ERROR"
    STOPPED = "STOPPED"


class FrameSink(Protocol):
    """Where a processor pushes its results, from any thread: ``put`` answers False once the
    stream takes no more frames. A session's is ``output.EmitSink`` (straight on to the encoder,
    no queue); a :class:`FrameQueue` fits as well (tests, the local test stream)."""

    def put(self, item: VideoFrame) -> bool: ...

    def close(self) -> None: ...


@dataclass
class FrameIO:
    """What a running stream gives its processor."""

    stream_id: str
    input: FrameQueue[VideoFrame]
    output: FrameSink
    params: dict[str, Any] = field(default_factory=dict)
    # Report a non-fatal problem (a frame failed, an update was refused): becomes an `error` event.
    report_error: Callable[[str, dict[str, Any]], None] = lambda msg, detail: None
    # Report something worth an event that is not an error (workflow switched, mapping applied).
    report_info: Callable[[str, dict[str, Any]], None] = lambda msg, detail: None
    # The processor cannot go on (its worker thread died): an `error` event, and the stream stops.
    fail: Callable[[str, dict[str, Any]], None] = lambda msg, detail: None


class ProcessorStatus:
    """``state`` and ``last_error`` as every processor here keeps them: the processor sets
    ``_state`` and ``_last_error``, the session only reads."""

    _state: ProcessorState = ProcessorState.LOADING
    _last_error: str | None = None

    @property
    def state(self) -> ProcessorState:
        return self._state

    @property
    def last_error(self) -> str | None:
        return self._last_error


@runtime_checkable
class FrameProcessor(Protocol):
    @property
    def state(self) -> ProcessorState: ...

    @property
    def last_error(self) -> str | None: ...

    async def start(self, io: FrameIO) -> None: ...

    async def update(self, params: dict[str, Any]) -> dict[str, Any]: ...

    async def stop(self) -> None: ...
