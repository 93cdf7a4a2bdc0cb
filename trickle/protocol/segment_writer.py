"""One segment as a publisher writes it: a preconnected POST with a chunked streaming body."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp

from ..errors import ChannelClosed, ChannelNotFound, ProtocolError, RedirectRefused, TrickleTimeout
from ..redaction import redact_channel_url, scrub
from ..timeouts import wait_done, with_timeout
from . import headers as h

log = logging.getLogger(__name__)

_CONNECTION_ERRORS = (aiohttp.ClientError, OSError)
_QUEUE_SIZE = 8  # chunks waiting to be sent: the producer waits beyond this (backpressure)


class SegmentWriter:
    """The POST of segment ``seq``; started at once so the first byte leaves without set-up."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        seq: int,
        headers: dict[str, str],
        *,
        max_retries: int = 3,
        retry_delay: float = 0.25,
        timeout: float = 30.0,
    ) -> None:
        self.seq = seq
        self.url = f"{url}/{seq}"
        self.shown = redact_channel_url(self.url, has_seq=True)  # for logs and task names
        self.sent = 0  # body bytes handed to the connection
        self._session = session
        self._headers = headers
        self._max_retries = max_retries
        self._retry_delay = retry_delay
        self._timeout = timeout
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(_QUEUE_SIZE)
        self._ended = False
        self._task = asyncio.create_task(self._run(), name=f"trickle-post {self.shown}")
        self._task.add_done_callback(_mark_retrieved)  # its error is raised by write()/close()

    @property
    def done(self) -> bool:
        """The POST has finished (answered, failed or released by the server)."""
        return self._task.done()

    def failed_transiently(self) -> bool:
        """Finished with a connection failure before any byte was sent (safe to open again)."""
        if not self._task.done() or self._task.cancelled():
            return False
        exc = self._task.exception()
        return isinstance(exc, ProtocolError) and exc.status == 0 and self.sent == 0

    async def write(self, data: bytes) -> None:
        """Send bytes as part of this segment's body (waits while the connection is behind)."""
        if self._ended:
            raise RuntimeError(f"{self.shown}: write after close")
        if self._task.done():
            self._raise_finished()
        if not data:
            return
        if not self._queue.full():
            self._queue.put_nowait(bytes(data))
            return
        try:
            await with_timeout(self._queue.put(bytes(data)), self._timeout)
        except asyncio.TimeoutError:
            raise TrickleTimeout(
                self.url, "the connection to take more data", self._timeout
            ) from None
        if self._task.done():
            self._raise_finished()

    async def close(self) -> None:
        """End the body and wait for the server's answer; raises what the POST ended with."""
        if not self._ended:
            self._ended = True
            if not self._task.done():
                await self._queue.put(None)  # never blocks for long: _run drains when it ends
        if not await wait_done(self._task, self._timeout):
            await self.abort()
            raise TrickleTimeout(self.url, "the server to accept the segment", self._timeout)
        await self._task

    async def abort(self) -> None:
        """Drop the POST without ending its body (the server sees a dropped upload)."""
        self._ended = True
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task

    async def __aenter__(self) -> SegmentWriter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _raise_finished(self) -> None:
        if self._task.cancelled():
            raise ChannelClosed(self.url)
        exc = self._task.exception()
        if exc is not None:
            raise exc
        raise ProtocolError(self.url, 200, "segment closed by the server before its body ended")

    async def _body(self) -> AsyncIterator[bytes]:
        yield b""  # an empty write makes aiohttp send the request headers now (preconnect)
        while (data := await self._queue.get()) is not None:
            self.sent += len(data)
            yield data

    async def _run(self) -> None:
        try:
            for attempt in range(self._max_retries + 1):
                try:
                    await self._post_once()
                    return
                except _CONNECTION_ERRORS as exc:
                    if self.sent:  # bytes may have reached readers: abandon the segment (Go's way)
                        await delete_url(self._session, self.url, self._timeout)
                    if self.sent or attempt == self._max_retries:
                        raise ProtocolError(self.url, 0, f"upload failed: {exc}") from exc
                    log.warning(
                        "POST %s failed before any byte (%s); retrying",
                        self.shown,
                        scrub(str(exc), self.url),
                    )
                    await asyncio.sleep(self._retry_delay * 2**attempt)
        finally:
            while not self._queue.empty():  # release a producer blocked on a full queue
                self._queue.get_nowait()

    async def _post_once(self) -> None:
        async with self._session.post(self.url, data=self._body(), headers=self._headers) as resp:
            text = "" if resp.status == 200 else await _short_text(resp)
            _check(self.url, resp, text)
            log.debug("POST %s: 200 after %d bytes", self.shown, self.sent)


def _mark_retrieved(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


async def delete_url(session: aiohttp.ClientSession, url: str, timeout: float) -> int | None:
    """DELETE a channel or segment URL; its status, or None when it could not be sent."""

    async def delete() -> int:
        async with session.delete(url) as resp:
            if resp.status not in (200, 400, 404):
                text = scrub(await _short_text(resp), url)
                log.warning("DELETE %s: HTTP %d %s", redact_channel_url(url), resp.status, text)
            return resp.status

    try:
        return await with_timeout(delete(), timeout)
    except (asyncio.TimeoutError, RedirectRefused, *_CONNECTION_ERRORS) as exc:
        log.warning("DELETE %s failed: %s", redact_channel_url(url), scrub(str(exc), url))
        return None


def _check(url: str, resp: aiohttp.ClientResponse, text: str) -> None:
    """Map a POST answer to the protocol's outcomes (Go publisher order: Closed first)."""
    if h.CLOSED in resp.headers:
        raise ChannelClosed(url)
    if resp.status == 404:
        raise ChannelNotFound(url)
    if resp.status != 200:
        raise ProtocolError(url, resp.status, text)


async def _short_text(resp: aiohttp.ClientResponse) -> str:
    with contextlib.suppress(asyncio.TimeoutError, *_CONNECTION_ERRORS):
        return (await with_timeout(resp.content.read(4096), 5.0)).decode("utf-8", "replace")
    return ""
