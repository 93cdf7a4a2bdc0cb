"""The orchestrator-to-runner ("o2r") channel of a dynamic live runner.

JSON over trickle, one message per segment: ``{"keep": "alive"}`` about every 10 s (skipped by
the reader) and ``{"event": "reserved"|"released", "session": ..., "timestamp": ...}``. The channel
name contains a derived secret: it is never logged. A new registration brings a new channel, so the
heartbeat client stops this reader and starts it again on every (re-)registration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from ..protocol.json_channels import ControlReader

log = logging.getLogger(__name__)

SessionEvent = Callable[[str, str], Awaitable[None]]  # (event, session id)


class JsonReader(Protocol):
    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...

    async def close(self) -> None: ...


ReaderFactory = Callable[[str], JsonReader]


def default_reader_factory(verify_tls: bool) -> ReaderFactory:
    def make(url: str) -> JsonReader:
        return ControlReader(url, start_seq=-1, verify_tls=verify_tls)

    return make


class O2RReader:
    """Reads one o2r channel at a time and hands ``reserved``/``released`` to ``on_event``."""

    def __init__(self, on_event: SessionEvent, factory: ReaderFactory) -> None:
        self._on_event = on_event
        self._factory = factory
        self._reader: JsonReader | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, channel: Any) -> None:
        url = ""
        if isinstance(channel, dict):
            url = str(channel.get("internal_url") or channel.get("url") or "")
        if not url:
            log.warning("live-runner registration carried no o2r channel; relying on heartbeats")
            return
        self._reader = self._factory(url)
        self._task = asyncio.create_task(self._read(self._reader), name="liverunner-o2r")

    async def _read(self, reader: JsonReader) -> None:
        try:
            async for message in reader:
                event, session = message.get("event"), message.get("session")
                if event in ("reserved", "released") and isinstance(session, str) and session:
                    log.info("o2r: session %s %s", session, event)
                    await self._on_event(str(event), session)
        except asyncio.CancelledError:
            raise
        except Exception:  # task boundary: the next heartbeat notices a lost registration
            log.exception("live-runner o2r reader failed")
        log.info("o2r channel ended")

    async def stop(self) -> None:
        task, self._task = self._task, None
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
