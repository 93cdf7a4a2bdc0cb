"""The live runner's sessions: one record per orchestrator session, and every way it ends.

A session is reserved by the orchestrator, started by the client's ``POST start`` (we open its
channels and start a stream on the shared :class:`StreamManager`), and ends on any of (reference
livepeer-docs-and-live-runners §13.2): the o2r ``released`` signal, the input ending (EOS, 404,
``Lp-Trickle-Closed``: the stream stops itself), a client ``POST stop``, the session missing from
a heartbeat's ``session_ids``, or no input for ``idle_timeout`` (orchestrators have no session idle
timeout, so we release it ourselves). Ending is idempotent and always: stop the stream (its
publishers DELETE ``out`` and ``events``), delete the session's channels, self-release through
``{Session-Control}/stop`` unless the orchestrator already let go, and free the slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import TrickleError
from ..session.manager import StreamManager
from ..session.request import URL_FIELDS
from ..session.session import StreamSession
from ..session.tasks import cancel_and_wait
from .session_control import Channel, SessionControl

log = logging.getLogger(__name__)

CHANNELS: tuple[tuple[str, str], ...] = (
    ("in", "video/mp2t"),
    ("out", "video/mp2t"),
    ("events", "application/json"),
    ("control", "application/json"),
)
WATCH_INTERVAL = 0.25


@dataclass
class LiveSession:
    session_id: str
    control: SessionControl
    started_at: float = field(default_factory=time.monotonic)
    state: str = "starting"  # starting | running | stopping
    channels: dict[str, Channel] = field(default_factory=dict)
    stream: StreamSession | None = None
    stop_reason: str | None = None
    watcher: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def public(self) -> dict[str, Any]:
        """Status without secrets: no channel URLs, no token."""
        shown: dict[str, Any] = {
            "session_id": self.session_id,
            "state": self.state,
            "age_s": round(time.monotonic() - self.started_at, 1),
            "channels": sorted(self.channels),
            "stop_reason": self.stop_reason,
        }
        if self.stream is not None:
            snap = self.stream.snapshot()
            shown["stream"] = {k: v for k, v in snap.items() if k not in URL_FIELDS}
        return shown


class SessionTable:
    """Owns the live sessions, their watcher tasks and their teardown."""

    def __init__(
        self,
        manager: StreamManager,
        *,
        idle_timeout: float,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.manager = manager
        self.idle_timeout = idle_timeout
        self._on_change = on_change
        self._sessions: dict[str, LiveSession] = {}
        self._ending: set[asyncio.Task[Any]] = set()
        self.ended = 0
        self.history: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def get(self, session_id: str) -> LiveSession | None:
        return self._sessions.get(session_id)

    def ids(self) -> list[str]:
        return list(self._sessions)

    def all(self) -> list[LiveSession]:
        return list(self._sessions.values())

    def add(self, session: LiveSession) -> None:
        self._sessions[session.session_id] = session
        self._on_change()

    def running(self, session: LiveSession, stream: StreamSession) -> None:
        """The stream started: watch it (input end, idle) until the session ends."""
        session.stream, session.state = stream, "running"
        session.watcher = asyncio.create_task(
            self._watch(session), name=f"liverunner-watch {session.session_id}"
        )

    def end_later(self, session_id: str, reason: str, *, release: bool = True) -> None:
        """Begin ending a session without waiting (o2r and heartbeat callbacks)."""
        if session_id not in self._sessions:
            return
        task = asyncio.create_task(self.end(session_id, reason, release=release))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def end(self, session_id: str, reason: str, *, release: bool = True) -> bool:
        """End a session (idempotent); False when it was not ours or is already ending."""
        session = self._sessions.get(session_id)
        if session is None:
            return False
        if session.state == "stopping":
            await session.done.wait()
            return False
        session.state, session.stop_reason = "stopping", reason
        log.info("live session %s ending: %s", session_id, reason)
        if session.watcher is not None and session.watcher is not asyncio.current_task():
            await cancel_and_wait([session.watcher])
        try:
            await self._teardown(session, release)
        finally:
            self._sessions.pop(session_id, None)
            self.ended += 1
            self.history = [*self.history[-9:], session.public()]
            session.done.set()
            self._on_change()
        return True

    async def close(self) -> None:
        """End every session (shutdown) and wait for pending endings."""
        await asyncio.gather(*(self.end(sid, "runner shutting down") for sid in self.ids()))
        if self._ending:
            await asyncio.wait(set(self._ending), timeout=15.0)

    async def _teardown(self, session: LiveSession, release: bool) -> None:
        if session.stream is not None:
            await session.stream.stop(session.stop_reason or "stopped")
        if not release:
            return  # the orchestrator released the session: it closed the channels itself
        try:
            if session.channels:
                await session.control.delete_channels(list(session.channels))
            await session.control.stop()
        except TrickleError as exc:
            log.warning(
                "live session %s: release at the orchestrator failed: %s", session.session_id, exc
            )

    async def _watch(self, session: LiveSession) -> None:
        stream = session.stream
        assert stream is not None
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if not stream.running:
                reason = stream.stop_reason or "stream ended"
                break
            idle = stream.stats.idle_for()
            if idle > self.idle_timeout:
                reason = f"no input for {self.idle_timeout:g}s"
                break
        await self.end(session.session_id, reason)
