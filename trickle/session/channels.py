"""The loop tasks of a stream that talk to trickle channels: input, control and events.

Each ``run_*`` coroutine is owned by its :class:`StreamSession` (spawned in ``_setup``, cancelled
and awaited in ``_teardown``) and closes what it opened in ``finally``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from ..errors import ChannelClosed, ChannelNotFound, RedirectRefused, TrickleError, ValidationError
from ..protocol.json_channels import ControlReader, EventsWriter
from ..protocol.subscriber import TrickleSubscriber
from ..timeouts import with_timeout

if TYPE_CHECKING:
    from .session import StreamSession

log = logging.getLogger(__name__)

MAX_INPUT_ERRORS = 5
EVENT_QUEUE = 64
NET_ERRORS = (TrickleError, aiohttp.ClientError, OSError, asyncio.TimeoutError)
# ai-runner treats an update carrying these three keys as an internal logging reset, not params.
_LOGGING_RESET_KEYS = {"request_id", "manifest_id", "stream_id"}


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


async def run_events(session: StreamSession, url: str) -> None:
    """Publish queued events; a ``status`` event at once and then every ``status_interval``."""
    writer = EventsWriter(url, session=session.http, verify_tls=session.config.verify_tls)
    interval = session.config.status_interval
    next_status = time.monotonic()
    try:
        while True:
            try:
                wait = max(0.0, next_status - time.monotonic())
                event = await with_timeout(session.events.queue.get(), wait)
            except asyncio.TimeoutError:
                session.refresh_state()
                event = session.status.status_event()
                next_status = time.monotonic() + interval
            if event is None:
                break
            try:
                await writer.send(event)
            except (ChannelNotFound, ChannelClosed) as exc:
                log.info("stream %s: events channel gone: %s", session.shown, exc)
                return
            except NET_ERRORS as exc:
                log.warning("stream %s: event not sent: %s", session.shown, exc)
    finally:
        await _close(writer.close(delete=session.request.owns_channels), "events close")


async def run_input(session: StreamSession, url: str) -> None:
    """Feed the input channel's bytes to the decoder as they arrive; stop the stream at its end."""
    sub = TrickleSubscriber(
        url, start_seq=-2, session=session.http, verify_tls=session.config.verify_tls
    )
    session.input_subscriber = sub  # the watchdog sees whether the input was ever reached
    errors = 0
    first = True
    try:
        while True:
            try:
                segment = await sub.next_segment()
            except (ChannelNotFound, ChannelClosed):
                segment = None
            except RedirectRefused as exc:  # the input is somewhere else: never followed
                session.report_error(f"input: {exc}", {"source": "input"})
                session.request_stop(f"input failed: {exc}")
                return
            except NET_ERRORS as exc:
                errors += 1
                session.report_error(f"input: {exc}", {"source": "input"})
                if errors > MAX_INPUT_ERRORS:
                    session.request_stop(f"input failed: {exc}")
                    return
                await asyncio.sleep(0.5)
                continue
            if segment is None:
                session.request_stop("input ended (channel closed)")
                return
            session.stats.input_segment()
            if first:
                first = False
                session.first_input()
            try:
                async for chunk in segment.chunks():
                    session.stats.input_bytes(len(chunk))
                    session.decoder.feed(chunk)
                if segment.complete:  # each segment may be its own TS muxer run (WHIP ingest)
                    session.decoder.end_segment()
                errors = 0
            except NET_ERRORS as exc:
                errors += 1
                session.report_error(
                    f"input segment {segment.seq} cut short: {exc}", {"source": "input"}
                )
    finally:
        await _close(sub.close(), "input close")


async def run_control(session: StreamSession, url: str) -> None:
    """Apply each control message as a parameter update (keepalives are skipped by the reader)."""

    def malformed(seq: int, why: str) -> None:
        session.report_error(
            f"control message skipped: {why}", {"source": "control", "segment": seq}
        )

    reader = ControlReader(
        url, session=session.http, verify_tls=session.config.verify_tls, on_malformed=malformed
    )
    try:
        async for message in reader:
            if _LOGGING_RESET_KEYS <= set(message):
                continue
            try:
                await session.update(message, source="control")
            except ValidationError:
                pass  # reported as an error event by update()
            except Exception as exc:  # task boundary: a processor bug must not end the stream
                log.exception("stream %s: update failed", session.shown)
                session.report_error(f"parameter update failed: {exc}", {"source": "control"})
        log.info("stream %s: control channel ended", session.shown)
    except NET_ERRORS as exc:
        log.info("stream %s: control channel failed: %s", session.shown, exc)
    finally:
        session.control_ended = True
        await _close(reader.close(), "control close")


async def _close(coro: Any, what: str) -> None:
    try:
        await coro
    except NET_ERRORS as exc:
        log.info("%s: %s", what, exc)
