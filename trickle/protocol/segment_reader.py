"""One segment as a subscriber sees it: its body, streamed as it arrives, resumed if cut off."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Protocol

import aiohttp

from ..errors import ProtocolError, TrickleTimeout, ValidationError
from ..redaction import redact_channel_url, scrub
from ..timeouts import with_timeout
from . import headers as h

log = logging.getLogger(__name__)

connection_errors = (aiohttp.ClientError, OSError)  # what a lost or refused connection raises


class SegmentSource(Protocol):
    """What a segment needs of the subscriber that fetched it (``subscriber.py``) to go on
    reading and to resume a cut-off body: its HTTP session and its retry and timeout policy."""

    read_timeout: float
    max_retries: int
    retry_delay: float

    def session(self) -> aiohttp.ClientSession: ...


class Segment:
    """The body of segment ``seq``; read it once, with :meth:`chunks` or :meth:`read_all`."""

    def __init__(
        self, subscriber: SegmentSource, seq: int, url: str, resp: aiohttp.ClientResponse
    ) -> None:
        self.seq = seq
        self.url = url
        self.content_type = resp.headers.get("Content-Type", "")
        self.latest = h.parse_int(resp.headers.get(h.LATEST))
        self.delivered = 0  # bytes handed to the caller so far
        self.complete = False
        self._sub = subscriber
        self._resp: aiohttp.ClientResponse | None = resp
        self._stalled = 0  # resumes in a row that brought no new byte
        self._resumed_at = -1

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body in pieces of whatever size arrived; ends when the segment ends."""
        try:
            while self._resp is not None:
                try:
                    data = await with_timeout(self._resp.content.readany(), self._sub.read_timeout)
                except asyncio.TimeoutError:
                    raise TrickleTimeout(self.url, "segment data", self._sub.read_timeout) from None
                except connection_errors as exc:
                    await self._resume(exc)
                    continue
                if not data:
                    self.complete = True
                    break
                self.delivered += len(data)
                yield data
        finally:
            self.abandon()

    async def read_all(self, max_bytes: int | None = None) -> bytes:
        """The whole body; ValidationError when it is longer than ``max_bytes``."""
        parts: list[bytes] = []
        async for data in self.chunks():
            parts.append(data)
            if max_bytes is not None and self.delivered > max_bytes:
                self.abandon()
                raise ValidationError(
                    f"segment {redact_channel_url(self.url)}",
                    f"at most {max_bytes} bytes",
                    f"{self.delivered}+ bytes",
                )
        return b"".join(parts)

    def abandon(self) -> None:
        """Stop reading: release the connection (closed if the body was not read to its end)."""
        resp, self._resp = self._resp, None
        if resp is None:
            return
        if self.complete:
            resp.release()
        else:
            resp.close()

    async def _resume(self, cause: BaseException) -> None:
        """Fetch this seq again after a lost connection and skip what was already delivered."""
        if self._resp is not None:
            self._resp.close()
        self._resp = None
        self._stalled = self._stalled + 1 if self.delivered == self._resumed_at else 1
        self._resumed_at = self.delivered
        if self._stalled > self._sub.max_retries:
            raise ProtocolError(
                self.url, 0, f"segment cut off after {self.delivered} bytes: {cause}"
            )
        for attempt in range(1, self._sub.max_retries + 1):
            log.warning(
                "%s cut off after %d bytes (%s); resuming",
                redact_channel_url(self.url),
                self.delivered,
                scrub(str(cause), self.url),
            )
            await asyncio.sleep(min(self._sub.retry_delay * 2 ** (attempt - 1), 5.0))
            try:
                resp = await with_timeout(self._sub.session().get(self.url), self._sub.read_timeout)
            except (asyncio.TimeoutError, *connection_errors) as exc:
                cause = exc
                continue
            if resp.status != 200 or h.CLOSED in resp.headers:
                resp.close()
                raise ProtocolError(
                    self.url, resp.status, "segment cut off and no longer available"
                )
            try:
                await _skip(resp, self.delivered, self._sub.read_timeout)
            except (asyncio.TimeoutError, *connection_errors) as exc:
                resp.close()
                cause = exc
                continue
            self._resp = resp
            return
        raise ProtocolError(self.url, 0, f"segment cut off after {self.delivered} bytes: {cause}")


async def _skip(resp: aiohttp.ClientResponse, count: int, timeout: float) -> None:
    """Read and drop the first ``count`` bytes of a body (a short body simply ends early)."""
    left = count
    while left > 0:
        data = await with_timeout(resp.content.read(min(left, 1 << 20)), timeout)
        if not data:
            return
        left -= len(data)
