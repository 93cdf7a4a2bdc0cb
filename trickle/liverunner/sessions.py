"""The live runner's sessions: one record per orchestrator session, and every way it ends.

A session is reserved by the orchestrator, started by the client's ``POST start`` (we open its
channels and start a stream on the shared :class:`StreamManager`), and ends on any of: the o2r
``released`` signal, the input ending (EOS, 404, ``Lp-Trickle-Closed``: the stream stops itself),
a client ``POST stop``, the session missing from a heartbeat's ``session_ids``, a stream failure,
no input for ``idle_timeout`` (orchestrators have no session idle timeout, so we release it
ourselves), or the runner shutting down (SIGTERM, ComfyUI's exit).

Ending is idempotent and always does the same, whatever fails on the way: stop the stream, then
**release** the session at the orchestrator with ``POST {Session-Control}/stop`` unless the
orchestrator already let go, then free the slot. The channels are the orchestrator's: its release
closes all of them, so we never DELETE them ourselves (go-livepeer answers 500 "Invalid stream"
to a channel delete after a trickle DELETE, which once cost us every session after the first).
The release is retried with bounded backoff on transport errors and 5xx answers; 404 means the
orchestrator no longer has the session (done). A release that still fails is logged at ERROR,
published as an ``error`` event on the session's events channel (still open at the O, since the
session was not released), counted and shown in the status API: never a silent leak.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProtocolError, TrickleError
from ..logtext import printable
from ..protocol.json_channels import EventsWriter
from ..session.events import error_event
from ..session.manager import StreamManager
from ..session.request import URL_FIELDS
from ..session.session import StreamSession
from ..session.tasks import cancel_and_wait
from .redact import redact_url
from .session_control import Channel, SessionControl

log = logging.getLogger(__name__)

CHANNELS: tuple[tuple[str, str], ...] = (
    ("in", "video/mp2t"),
    ("out", "video/mp2t"),
    ("events", "application/json"),
    ("control", "application/json"),
)
WATCH_INTERVAL = 0.25
RELEASE_BACKOFF: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)  # s between release attempts
RELEASE_EVENT_TIMEOUT = 3.0  # s for the one error event that says a release failed


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
    released: str = ""  # "" (not asked), released | already released | failed | by orchestrator

    def token_matches(self, token: str) -> bool:
        """Constant-time check of a request's ``Livepeer-Session-Token`` against the start's."""
        return hmac.compare_digest(token.encode(), self.control.headers.token.encode())

    def public(self) -> dict[str, Any]:
        """Status without secrets: no channel URLs, no token."""
        shown: dict[str, Any] = {
            "session_id": self.session_id,
            "state": self.state,
            "age_s": round(time.monotonic() - self.started_at, 1),
            "channels": sorted(self.channels),
            "stop_reason": self.stop_reason,
            "released": self.released,
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
        self.release_failures = 0
        self.last_error = ""

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
        if not release:
            session.released = "by orchestrator"
        log.info("live session %s ending: %s", printable(session_id), printable(reason))
        if session.watcher is not None and session.watcher is not asyncio.current_task():
            await cancel_and_wait([session.watcher])
        try:
            await self._stop_stream(session)
        finally:
            # The slot is free before the O hears of it: once released there, the O may
            # reserve the next session at once, and its start must find the slot empty.
            self._sessions.pop(session_id, None)
            self._on_change()
        try:
            if release:
                await self.release(session)
        finally:
            self.ended += 1
            self.history = [*self.history[-9:], session.public()]
            session.done.set()
        return True

    async def reclaim(self, full: Callable[[], bool], timeout: float = 10.0) -> None:
        """Make room for a session the O reserved while every slot here is taken.

        The O counts capacity too, so it reserving one more means it no longer holds one of
        ours: a client stop (``POST control_url/stop``) releases at once and closes the channels,
        while we notice only when the input ends. Wait for endings already under way, then ask
        the O about each running session (creating a channel that exists is a no-op there, and
        404 for a released session) and end those it no longer has, without a release."""
        pending = [s.done.wait() for s in self.all() if s.state == "stopping"]
        if pending:
            await asyncio.wait([asyncio.ensure_future(p) for p in pending], timeout=timeout)
        if not full():
            return

        async def check(session: LiveSession) -> None:
            try:
                await session.control.create_channels([CHANNELS[2]])  # "events", ours already
            except ProtocolError as exc:
                if exc.status == 404:
                    await self.end(
                        session.session_id, "released by the orchestrator", release=False
                    )
            except TrickleError as exc:
                log.info(
                    "live session %s: probe at the O failed: %s", printable(session.session_id), exc
                )

        running = [s for s in self.all() if s.state == "running"]
        await asyncio.gather(*(check(s) for s in running))

    async def close(self) -> None:
        """End every session (shutdown) and wait for pending endings."""
        await asyncio.gather(*(self.end(sid, "runner shutting down") for sid in self.ids()))
        if self._ending:
            await asyncio.wait(set(self._ending), timeout=15.0)

    async def _stop_stream(self, session: LiveSession) -> None:
        try:
            stream = session.stream
            if stream is not None and not await stream.stop(session.stop_reason or "stopped"):
                # released all the same (the session is over); the engine keeps the slot until
                # the stream has ended, and says so in its own status
                self.last_error = (
                    f"session {printable(session.session_id)}: its stream is still stopping "
                    f"({', '.join(stream.alive())})"
                )
                log.warning("live %s", self.last_error)
        except Exception:  # the release must happen whatever the stream did
            log.exception(
                "live session %s: stopping its stream failed", printable(session.session_id)
            )

    async def release(self, session: LiveSession) -> None:
        """``POST {Session-Control}/stop`` until it is done (204, or 404: already gone)."""
        delays = (*RELEASE_BACKOFF, None)
        for attempt, delay in enumerate(delays, 1):
            try:
                released = await session.control.stop()
            except ProtocolError as exc:
                retry = delay is not None and (exc.status == 0 or exc.status >= 500)
                if retry:
                    log.info(
                        "live session %s: release attempt %d failed (%s); retrying in %gs",
                        printable(session.session_id), attempt, exc, delay,
                    )  # fmt: skip
                    await asyncio.sleep(delay or 0)
                    continue
                await self._release_failed(session, exc, attempt)
                return
            except TrickleError as exc:
                await self._release_failed(session, exc, attempt)
                return
            session.released = "released" if released else "already released"
            return

    async def _release_failed(self, session: LiveSession, exc: TrickleError, attempts: int) -> None:
        message = (
            f"releasing session {session.session_id} at the orchestrator failed after "
            f"{attempts} attempt(s): {exc}; the orchestrator may keep its slot reserved"
        )
        log.error("live session %s: %s", printable(session.session_id), printable(message))
        session.released = "failed"
        self.release_failures += 1
        self.last_error = message
        channel = session.channels.get("events")
        if channel is None:
            return
        pipeline = session.stream.status.pipeline if session.stream is not None else ""
        event = error_event(pipeline, message, {"source": "live-runner", "attempts": attempts})
        # a second publisher on the channel: continue at the server's write head, not at seq 0
        writer = EventsWriter(channel.runner_url, session=session.control.http, reset=True)
        try:
            await asyncio.wait_for(writer.send(event), RELEASE_EVENT_TIMEOUT)
        except Exception as err:  # the O may be down: the log line above is what is left
            log.warning(
                "live session %s: the release-failure event was not sent to %s: %s",
                printable(session.session_id), redact_url(channel.runner_url), type(err).__name__,
            )  # fmt: skip
        finally:
            try:
                await asyncio.wait_for(writer.close(delete=False), RELEASE_EVENT_TIMEOUT)
            except Exception:  # best effort, as above
                log.debug("closing the release-failure event writer failed", exc_info=True)

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
