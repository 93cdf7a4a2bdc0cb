"""JSON channels: the control reader and the events writer (reference ``trickle-protocol.md`` §6.4–6.5).

Each segment carries exactly one JSON document. The control reader reads whole segments (not
only the first chunk, unlike the Python peers), bounded in size, skips the gateway's
``{"keep": "alive"}`` keepalives and empty segments, and reports malformed ones (not JSON, not
an object, bad UTF-8, too big: logged and passed to ``on_malformed``) without stopping.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..errors import TrickleTimeout, ValidationError
from ..jsonsafe import dumps
from ..redaction import redact_channel_url
from .publisher import TricklePublisher
from .subscriber import TrickleSubscriber

log = logging.getLogger(__name__)

KEEPALIVE = {"keep": "alive"}


class ControlReader:
    """Yields each JSON object published on a control channel, once, in order."""

    def __init__(
        self,
        url: str,
        *,
        start_seq: int = -2,
        max_bytes: int = 1 << 20,
        on_malformed: Callable[[int, str], None] | None = None,
        **subscriber_kw: Any,
    ) -> None:
        """``on_malformed(seq, why)``: told of each skipped malformed segment (the stream's
        ``error`` event)."""
        subscriber_kw.setdefault("read_timeout", 10.0)
        self.url = url
        self._on_malformed = on_malformed
        self.max_bytes = max_bytes
        self._sub = TrickleSubscriber(url, start_seq=start_seq, **subscriber_kw)

    @property
    def subscriber(self) -> TrickleSubscriber:
        return self._sub

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[dict[str, Any]]:
        async for segment in self._sub:
            try:
                body = await segment.read_all(self.max_bytes)
            except (ValidationError, TrickleTimeout) as exc:
                self._bad(segment.seq, str(exc))
                continue
            message = self._parse(segment.seq, body)
            if message is not None:
                yield message

    def _parse(self, seq: int, body: bytes) -> dict[str, Any] | None:
        if not body.strip():
            return None  # an empty segment (e.g. a publisher releasing its preconnect)
        try:
            message = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._bad(seq, f"not JSON: {exc}")
            return None
        if not isinstance(message, dict):
            self._bad(seq, f"expected a JSON object, received {type(message).__name__}")
            return None
        if message == KEEPALIVE:
            return None
        return message

    def _bad(self, seq: int, why: str) -> None:
        log.warning("control %s/%d skipped: %s", redact_channel_url(self.url), seq, why)
        if self._on_malformed is not None:
            self._on_malformed(seq, why)

    async def close(self) -> None:
        await self._sub.close()

    async def __aenter__(self) -> ControlReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class EventsWriter:
    """Publishes one JSON document per segment; concurrent ``send`` calls are serialised."""

    def __init__(self, url: str, **publisher_kw: Any) -> None:
        publisher_kw.setdefault("mime_type", "application/json")
        self.url = url
        self.sent = 0
        self._pub = TricklePublisher(url, **publisher_kw)
        self._lock = asyncio.Lock()

    async def send(self, obj: dict[str, Any]) -> None:
        """Publish ``obj`` as one segment; returns once the server has accepted it."""
        data = dumps(obj).encode()
        async with self._lock:
            await self._pub.write_segment(data)
            self.sent += 1

    async def close(self, delete: bool = True) -> None:
        async with self._lock:
            await self._pub.close(delete=delete)

    async def __aenter__(self) -> EventsWriter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
