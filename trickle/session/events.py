"""Events a stream publishes on its events channel (docs/runner.md, Events).

Every event is one JSON document per trickle segment, wrapped as
``{"event": {"type": ..., "timestamp": <ms>, ...}, "queue_event_type": <kafka topic>}``:

- ``status`` (topic ``ai_stream_events``; the gateway re-routes it to ``ai_stream_status``) every
  ``status_interval`` seconds, in ai-runner's ``PipelineStatus`` shape — also the liveness signal
  the gateway's 30 s events watchdog waits for;
- ``error`` (``ai_stream_events``): ``pipeline``, ``message``, ``time`` (seconds) and, for
  validation errors, ``field`` / ``expected`` / ``received``;
- ``info`` (``ai_stream_events``): ``pipeline``, ``message`` and details — what a processor wants
  known that is not an error (workflow loaded and where from, how a ComfyStream-style graph was
  mapped, workflow switched, parameters applied);
- ``stream_trace`` milestones: ``runner_receive_stream_request``,
  ``runner_receive_first_ingest_segment``, ``runner_send_first_processed_segment``.

:class:`EventQueue` holds them (bounded, oldest dropped) until the session's events task
publishes them.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import json
import time
from typing import Any

from .stats import StreamStats, monotonic_to_ms

TOPIC_EVENTS = "ai_stream_events"
TOPIC_TRACE = "stream_trace"

TRACE_REQUEST = "runner_receive_stream_request"
TRACE_FIRST_INGEST = "runner_receive_first_ingest_segment"
TRACE_FIRST_OUTPUT = "runner_send_first_processed_segment"

EVENT_QUEUE = 64  # events waiting to be published; the oldest are dropped beyond it


class PipelineState(str, enum.Enum):
    """ai-runner's ``PipelineState`` values."""

    LOADING = "LOADING"
    OFFLINE = "OFFLINE"
    ONLINE = "ONLINE"
    DEGRADED_INPUT = "DEGRADED_INPUT"
    DEGRADED_INFERENCE = "DEGRADED_INFERENCE"
    ERROR = "ERROR"


def now_ms() -> int:
    return int(time.time() * 1000)


def wrap(event: dict[str, Any], queue_event_type: str = TOPIC_EVENTS) -> dict[str, Any]:
    """The wire shape: the event (with a ms ``timestamp``) under ``event``, plus its topic."""
    body = {**event}
    body.setdefault("timestamp", now_ms())
    return {"event": body, "queue_event_type": queue_event_type}


def trace_event(kind: str, stream_id: str) -> dict[str, Any]:
    return wrap({"type": kind, "stream_id": stream_id}, TOPIC_TRACE)


def error_event(
    pipeline: str, message: str, detail: dict[str, Any] | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "error", "pipeline": pipeline, "message": message}
    event["time"] = round(time.time(), 3)
    for key, value in (detail or {}).items():
        event.setdefault(key, value)
    return wrap(event)


def info_event(pipeline: str, message: str, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "info", "pipeline": pipeline, "message": message}
    for key, value in (detail or {}).items():
        event.setdefault(key, value)
    return wrap(event)


def params_hash(params: dict[str, Any] | None) -> str:
    text = json.dumps(params or {}, sort_keys=True, default=str)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class StatusReporter:
    """Builds ``status`` events; large fields (``last_params``) are sent once, then null."""

    # Thresholds from ai-runner's status rules (ai-runner's live pipeline status code).
    MIN_INPUT_FPS = 15.0
    STALE_S = 2.0

    def __init__(self, pipeline: str, stats: StreamStats) -> None:
        self.pipeline = pipeline
        self.stats = stats
        self.start_ms = now_ms()
        self._state = PipelineState.LOADING
        self._state_ms = self.start_ms
        self._last_report_ms = self.start_ms
        self._params: dict[str, Any] | None = None
        self._params_sent = True

    @property
    def state(self) -> PipelineState:
        return self._state

    def set_params(self, params: dict[str, Any]) -> None:
        self._params = params
        self._params_sent = False

    def update_state(self, processor_ready: bool, processor_error: bool, stopped: bool) -> None:
        state = self._compute(processor_ready, processor_error, stopped)
        if state != self._state:
            self._state = state
            self._state_ms = now_ms()

    def _compute(self, ready: bool, error: bool, stopped: bool) -> PipelineState:
        if stopped:
            return PipelineState.OFFLINE
        if error:
            return PipelineState.ERROR
        if not ready:
            return PipelineState.LOADING
        now = time.monotonic()
        stats = self.stats
        fps_in = stats.fps_in()
        if stats.last_input_time is None or now - stats.last_input_time > self.STALE_S:
            return PipelineState.DEGRADED_INPUT
        if 0 < fps_in < self.MIN_INPUT_FPS:
            return PipelineState.DEGRADED_INPUT
        out_stale = stats.last_output_time is None or now - stats.last_output_time > self.STALE_S
        if out_stale or stats.fps_out() < min(10.0, 0.8 * fps_in):
            return PipelineState.DEGRADED_INFERENCE
        recent_error = stats.last_error_time and now - stats.last_error_time < 10.0
        return PipelineState.DEGRADED_INFERENCE if recent_error else PipelineState.ONLINE

    def status_event(self) -> dict[str, Any]:
        stats = self.stats
        report_ms = now_ms()
        params = None if self._params_sent else self._params
        self._params_sent = True
        event = {
            "type": "status",
            "pipeline": self.pipeline,
            "start_time": self.start_ms,
            "state": self._state.value,
            "last_state_update_time": self._state_ms,
            "last_status_timestamp": self._last_report_ms,
            "input_status": {
                "last_input_time": monotonic_to_ms(stats.last_input_time),
                "fps": stats.fps_in(),
            },
            "inference_status": {
                "last_output_time": monotonic_to_ms(stats.last_output_time),
                "fps": stats.fps_out(),
                "last_params_update_time": monotonic_to_ms(stats.last_params_time),
                "last_params": params,
                "last_params_hash": params_hash(self._params),
                "last_error_time": monotonic_to_ms(stats.last_error_time),
                "last_error": stats.last_error,
                "last_restart_time": None,
                "last_restart_logs": None,
                "restart_count": 0,
            },
            "timestamp": report_ms,
        }
        self._last_report_ms = report_ms
        return wrap(event)


class EventQueue:
    """Events waiting to be published: bounded, the oldest dropped first; ``None`` ends it."""

    def __init__(self, maxsize: int = EVENT_QUEUE) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.maxsize = maxsize
        self.dropped = 0
        self._closed = False

    def put(self, event: dict[str, Any] | None) -> None:
        """Loop thread only."""
        if self._closed:
            return
        while event is not None and self.queue.qsize() >= self.maxsize:
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    def put_threadsafe(self, loop: asyncio.AbstractEventLoop | None, event: dict[str, Any]) -> None:
        """Any thread."""
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self.put, event)
        except RuntimeError:  # loop closed: nobody will read it
            pass

    def close(self, final: dict[str, Any] | None, reason: str | None) -> None:
        if final is not None:
            final["event"]["stop_reason"] = reason
            self.put(final)
        self.put(None)
        self._closed = True
