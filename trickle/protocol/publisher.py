"""Trickle publisher: writes a channel segment by segment (reference ``trickle-protocol.md`` §5.1).

- segments are numbered from 0 (or, with ``reset=True``, from the server's ``/next`` with
  ``Lp-Trickle-Reset`` on the first POST, so a restarted publisher takes over a live channel);
- each segment is one POST with a chunked streaming body; the POST for the next seq is opened as
  soon as a segment is handed out (one idle preconnect, as go-livepeer does), so the next
  segment's first byte leaves without connection set-up;
- ``100 Continue`` keepalives on an idle preconnect are tolerated (aiohttp skips 1xx answers);
- a POST that fails before any byte was sent is retried on the same seq; after bytes were sent the
  segment is abandoned with ``DELETE <url>/<seq>`` (as go-livepeer's gateway does) and the error
  raised;
- 404 → :class:`ChannelNotFound`, ``Lp-Trickle-Closed`` → :class:`ChannelClosed`;
- ``close()`` DELETEs the channel first, then drops the idle preconnect (go-livepeer's order, so
  subscribers see no extra empty segment).
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from ..errors import ChannelClosed, ChannelNotFound, TrickleTimeout
from ..redaction import redact_channel_url, scrub
from ..timeouts import with_timeout
from . import headers as h
from .http import ClientSessionSlot
from .segment_writer import SegmentWriter, delete_url

log = logging.getLogger(__name__)

__all__ = ["SegmentWriter", "TricklePublisher"]


class TricklePublisher:
    """Use as ``async with TricklePublisher(url) as pub: await pub.write_segment(data)``."""

    def __init__(
        self,
        url: str,
        mime_type: str = "video/mp2t",
        *,
        session: aiohttp.ClientSession | None = None,
        verify_tls: bool = False,
        reset: bool = False,
        max_retries: int = 3,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.mime_type = mime_type
        self.timeout = timeout
        self._http = ClientSessionSlot(session, verify_tls=verify_tls)
        self._reset = reset
        self._max_retries = max_retries
        self._seq: int | None = None
        self._pending: SegmentWriter | None = None
        self._writers: list[SegmentWriter] = []
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def seq(self) -> int | None:
        """The seq the next segment will get (None until the first segment)."""
        return self._seq

    async def next_segment(self) -> SegmentWriter:
        """The writer of the next segment (already connected); preconnects the one after it."""
        async with self._lock:
            if self._closed:
                raise ChannelClosed(self.url)
            first = self._seq is None
            if self._seq is None:
                self._seq = await self._start_seq()
            writer = self._pending
            if writer is None or writer.failed_transiently():
                writer = self._open(self._seq, reset=first and self._reset)
            self._seq = writer.seq + 1
            self._pending = self._open(self._seq)
            self._writers = [w for w in self._writers if not w.done] + [writer]
            return writer

    async def write_segment(self, data: bytes) -> None:
        """Publish one whole segment and wait until the server has accepted it."""
        writer = await self.next_segment()
        try:
            await writer.write(data)
        except BaseException:
            await self._abandon(writer)
            raise
        await writer.close()

    async def close(self, delete: bool = True) -> None:
        """DELETE the channel (if ``delete``), then drop the preconnect and unfinished segments."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if delete:
                await delete_url(self.session(), self.url, self.timeout)
        finally:
            for writer in [*self._writers, self._pending]:
                if writer is not None and not writer.done:
                    await writer.abort()
            self._pending = None
            self._writers = []
            await self._http.close()

    async def __aenter__(self) -> TricklePublisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- internals -----------------------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        return self._http.get()

    def _open(self, seq: int, *, reset: bool = False) -> SegmentWriter:
        headers = {"Content-Type": self.mime_type}
        if reset:
            headers[h.RESET] = "1"
        return SegmentWriter(
            self.session(),
            self.url,
            seq,
            headers,
            max_retries=self._max_retries,
            timeout=self.timeout,
        )

    async def _start_seq(self) -> int:
        """0, or with ``reset`` the server's write head (``GET /next``; 0 if it has none)."""
        if not self._reset:
            return 0
        url = f"{self.url}/next"

        async def ask() -> tuple[int, str]:
            async with self.session().get(url) as resp:
                return resp.status, await resp.text()

        try:
            status, text = await with_timeout(ask(), self.timeout)
        except asyncio.TimeoutError:
            raise TrickleTimeout(url, "the write head", self.timeout) from None
        if status == 404:
            raise ChannelNotFound(url)
        seq = h.parse_int(text) if status == 200 else None
        if seq is None or seq < 0:
            log.warning(
                "GET %s answered %d %r: restarting at 0",
                redact_channel_url(url),
                status,
                scrub(text[:80], url),
            )
            return 0
        return seq

    async def _abandon(self, writer: SegmentWriter) -> None:
        """Give up a segment: drop its upload and ask the server to close it (``DELETE /seq``)."""
        await writer.abort()
        if writer.sent:
            await delete_url(self.session(), writer.url, self.timeout)
