"""Streams of one runner: capacity, pre-emption, start/stop/update/list and health (no HTTP here).

The runner routes, the BYOC routes, the pack's own API and the go-livepeer live-runner app all
share one ``StreamManager``. It takes a processor factory ``Callable[[StartRequest],
FrameProcessor]``: the standalone runner plugs in the plain processors, the ComfyUI integration its
workflow driver.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import RunnerConfig
from ..errors import TrickleError
from ..logtext import printable
from .processor import FrameProcessor, ProcessorState
from .request import StartRequest
from .session import STOP_WAIT_S, StreamSession

log = logging.getLogger(__name__)

STUCK_S = 5.0  # a stream still not ended this long after its stop: ERROR, and it keeps its slot
# After a stream whose pipeline failed, /health is ERROR until the next start, at most this long:
# an orchestrator starting while /health says ERROR aborts the whole node (docs/runner.md),
# so a runner must not stay in ERROR for good when no stream comes.
FAILURE_HOLD_S = 60.0

ProcessorFactory = Callable[[StartRequest], FrameProcessor]
SessionFactory = Callable[..., StreamSession]


class CapacityError(TrickleError):
    """Every slot is taken by a live (not stale) stream: the runner answers 500 (docs/runner.md)."""

    def __init__(self, capacity: int, running: list[str]) -> None:
        super().__init__(f"insufficient capacity: {len(running)}/{capacity} streams running")
        self.capacity = capacity
        self.running = running


class StreamNotFound(TrickleError):
    def __init__(self, stream_id: str) -> None:
        super().__init__(f"no such stream: {stream_id!r}")
        self.stream_id = stream_id


@dataclass(frozen=True)
class StopResult:
    """What a stop call found: ``stopped`` only when every task and thread of the stream ended."""

    stream_id: str
    found: bool
    stopped: bool
    running: tuple[str, ...] = ()  # what of the stream still runs (``stopped`` False, ``found``)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"stopped": self.stopped}
        if self.found and not self.stopped:
            body.update(stream_id=self.stream_id, stopping=True, running=list(self.running))
        return body


class StreamManager:
    def __init__(
        self,
        config: RunnerConfig,
        processor_factory: ProcessorFactory,
        *,
        session_factory: SessionFactory = StreamSession,
    ) -> None:
        self.config = config
        self.processor_factory = processor_factory
        self._session_factory = session_factory
        self._sessions: dict[str, StreamSession] = {}
        self._stopping: set[asyncio.Task[bool]] = set()
        self._lingering: list[StreamSession] = []  # ended with a thread still running
        self._overdue: list[StreamSession] = []  # a stop call answered "not stopped" for these
        self._told: list[StreamSession] = []  # stuck streams already logged
        self.started = 0
        self.preempted = 0
        self.last_error: str | None = None
        self.failure: str | None = None  # the last stream failed (cleared by the next start)
        self.failure_at = 0.0  # monotonic time of that failure
        self.history: list[dict[str, Any]] = []  # the last few finished streams

    # --- queries ------------------------------------------------------------------------------
    def active(self) -> list[StreamSession]:
        return [s for s in self._sessions.values() if not s.stopping]

    def stuck(self) -> list[StreamSession]:
        """Streams that were asked to stop and have not ended: a stop call already answered
        "not stopped" for them, or the request is more than ``STUCK_S`` old (an ending stream
        drains its input for up to a few seconds), or a thread outlived the stream's teardown.

        Each keeps its slot (a new stream does not start beside it) and makes /health ERROR."""
        now = time.monotonic()
        self._lingering = [s for s in self._lingering if s.alive()]
        self._overdue = [s for s in self._overdue if s.alive()]
        waiting = [
            s
            for s in self._sessions.values()
            if s.stop_requested_at is not None
            and (now - s.stop_requested_at > STUCK_S or s in self._overdue)
        ]
        found = [*waiting, *(s for s in self._lingering if s not in waiting)]
        for session in found:
            if session not in self._told:
                self._told.append(session)
                self.last_error = f"stream {session.stream_id} did not stop: still running " + (
                    ", ".join(session.alive())
                )
                log.error("%s", printable(self.last_error))
        self._told = [s for s in self._told if s in found]
        return found

    def get(self, stream_id: str | None = None) -> StreamSession:
        """The stream with this id; with no id, the only active stream."""
        if stream_id:
            session = self._sessions.get(stream_id)
        else:
            active = self.active()
            session = active[0] if len(active) == 1 else None
        if session is None:
            raise StreamNotFound(stream_id or "")
        return session

    def list(self) -> list[dict[str, Any]]:
        return [s.snapshot() for s in self._sessions.values()]

    def health(self, *, last_failure: bool = True) -> str:
        """``IDLE`` / ``LOADING`` / ``OK`` / ``ERROR`` (ai-runner's /health values); ERROR too
        while a stopped stream has not ended (``stuck``) and, with ``last_failure``, after a
        stream whose pipeline failed until the next stream starts (``failure``; at most
        ``FAILURE_HOLD_S``)."""
        if self.stuck():
            return "ERROR"
        if last_failure and self.failure is not None:
            if time.monotonic() - self.failure_at < FAILURE_HOLD_S:
                return "ERROR"
        active = self.active()
        if not active:
            return "IDLE"
        states = [s.processor.state for s in active]
        if all(state is ProcessorState.ERROR for state in states):
            return "ERROR"
        if any(state is ProcessorState.LOADING for state in states):
            return "LOADING"
        return "OK"

    # --- commands -----------------------------------------------------------------------------
    async def start(self, request: StartRequest) -> StreamSession:
        """Start a stream and return at once (it connects in the background).

        A start for a stream id that is already running replaces that stream. When every slot
        is taken, stale streams are pre-empted; if none is stale, ``CapacityError``.
        """
        previous = self._sessions.get(request.key)
        if previous is not None:
            self._stop_later(previous, "replaced by a new start for the same stream")
        active, stuck = self.active(), self.stuck()
        taken = len(active) + len(stuck)  # a stream that did not stop keeps its slot
        if taken >= self.config.capacity:
            stale = [s for s in active if s.is_stale()]
            if taken - len(stale) >= self.config.capacity:
                holding = [s.stream_id for s in active] + [
                    f"{s.stream_id} (not stopped)" for s in stuck
                ]
                error = CapacityError(self.config.capacity, holding)
                self.last_error = str(error)
                raise error
            for session in stale[: taken - self.config.capacity + 1]:
                self.preempted += 1
                self._stop_later(session, f"pre-empted by stream {request.key}")
        processor = self.processor_factory(request)
        session = self._session_factory(request, processor, self.config, on_done=self._finished)
        self.failure = None
        self._sessions[request.key] = session
        session.start()
        self.started += 1
        log.info("stream %s started (%s, model %s)", session.shown, request.source,
                 printable(request.model_id))  # fmt: skip
        return session

    async def stop(
        self,
        stream_id: str | None = None,
        reason: str = "stop requested",
        timeout: float = STOP_WAIT_S,
    ) -> StopResult:
        """Stop a stream and wait up to ``timeout`` s for it to end (it goes on ending after)."""
        try:
            session = self.get(stream_id)
        except StreamNotFound:
            return StopResult(stream_id or "", found=False, stopped=False)
        ended = await session.stop(reason, timeout)
        running = () if ended else tuple(session.alive())
        if running:
            self._overdue.append(session)
            log.warning("stream %s still stopping after %.1fs: %s", session.shown, timeout,
                        ", ".join(running))  # fmt: skip
        return StopResult(session.stream_id, found=True, stopped=not running, running=running)

    async def update(
        self, stream_id: str | None, params: dict[str, Any], source: str = "api"
    ) -> dict[str, Any]:
        return await self.get(stream_id).update(params, source=source)

    async def close(self) -> None:
        """Stop every stream and wait (server shutdown)."""
        sessions = list(self._sessions.values())
        await asyncio.gather(*(s.stop("runner shutting down") for s in sessions))
        if self._stopping:
            await asyncio.wait(set(self._stopping), timeout=10.0)

    # --- internals ----------------------------------------------------------------------------
    def _stop_later(self, session: StreamSession, reason: str) -> None:
        session.request_stop(reason)
        task = asyncio.create_task(session.stop(reason), name=f"stop {session.stream_id}")
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def _finished(self, session: StreamSession) -> None:
        if self._sessions.get(session.stream_id) is session:
            del self._sessions[session.stream_id]
        if any(not name.startswith("stream ") for name in session.alive()):
            self._lingering.append(session)  # a thread outlived the teardown's bounded joins
        if session.stats.last_error:
            self.last_error = session.stats.last_error
        if session.failure is not None:
            self.failure = self.last_error = f"stream {session.stream_id}: {session.failure}"
            self.failure_at = time.monotonic()
        self.history = [*self.history[-9:], session.snapshot()]
