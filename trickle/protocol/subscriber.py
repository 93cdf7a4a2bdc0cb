"""Trickle subscriber: reads a channel segment by segment (reference ``trickle-protocol.md`` §5.2).

- starts at ``-1`` (next segment, Go's default) or ``-2`` (current one, the Python default) or N;
- after each segment's headers, follows ``Lp-Trickle-Seq + 1`` and preconnects that GET at once,
  so the next segment's first byte is not delayed by connection set-up;
- yields a segment's body as it arrives (before it is complete);
- on 470 jumps to ``Lp-Trickle-Latest`` (or -1) and counts the segments it skipped;
- 404 and ``Lp-Trickle-Closed`` end the stream (``next_segment`` returns None);
- connection errors and unexpected statuses are retried with bounded backoff, ``max_retries`` times;
- a GET waiting for a segment to start is re-issued every ``refresh_interval`` seconds (Go does
  the same every 20 s), ``first_byte_timeout`` bounds the whole wait, ``read_timeout`` each chunk;
- a connection lost mid-segment is resumed: the same seq is fetched again and the bytes already
  delivered are skipped, so the caller sees each byte exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp

from ..errors import ProtocolError, TrickleTimeout
from ..redaction import redact_channel_url, scrub
from ..timeouts import with_timeout
from . import headers as h
from .http import ClientSessionSlot
from .segment_reader import Segment, connection_errors

log = logging.getLogger(__name__)

__all__ = ["Segment", "TrickleSubscriber"]


class TrickleSubscriber:
    """Async iterator of :class:`Segment`; use as ``async with TrickleSubscriber(url) as sub``."""

    def __init__(
        self,
        url: str,
        *,
        start_seq: int = -1,
        session: aiohttp.ClientSession | None = None,
        verify_tls: bool = False,
        first_byte_timeout: float | None = None,
        max_retries: int = 5,
        read_timeout: float = 30.0,
        refresh_interval: float = 20.0,
        retry_delay: float = 0.25,
    ) -> None:
        self.url = url.rstrip("/")
        self.shown = redact_channel_url(self.url, has_seq=False)  # for logs: a capability
        self.skipped = 0  # segments jumped over after 470s
        self.end_reason: str | None = None  # "closed" (Lp-Trickle-Closed) or "not_found" (404)
        self.responses = 0  # HTTP answers received (of any status): the server was reached
        self.connect_failures = 0  # requests that got no answer (refused, reset, DNS, TLS, ...)
        self.last_failure: str | None = None  # the latest of those, redacted
        self.max_retries = max_retries
        self.read_timeout = read_timeout
        self.retry_delay = retry_delay
        self._seq = start_seq
        self._http = ClientSessionSlot(session, verify_tls=verify_tls)
        self._first_byte_timeout = first_byte_timeout
        self._refresh = refresh_interval
        self._pending: asyncio.Task[Segment | None] | None = None
        self._current: Segment | None = None
        self._closed = False

    @property
    def seq(self) -> int:
        """The seq the next request asks for."""
        return self._seq

    async def next_segment(self) -> Segment | None:
        """The next segment once it has started; None when the channel has ended."""
        if self._closed or self.end_reason is not None:
            return None
        if self._current is not None:
            self._current.abandon()  # the caller moved on before reading it to the end
            self._current = None
        task = self._pending or self._start(self._seq)
        self._pending = None
        segment = await task
        if segment is None:
            return None
        if segment.seq >= 0:
            self._seq = segment.seq + 1
        self._current = segment
        self._pending = self._start(self._seq)  # preconnect while the caller reads this one
        return segment

    def __aiter__(self) -> AsyncIterator[Segment]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Segment]:
        while (segment := await self.next_segment()) is not None:
            yield segment

    async def close(self) -> None:
        """Cancel the preconnected GET, release the current segment, close an own session."""
        self._closed = True
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(BaseException):
                await self._pending
            self._pending = None
        if self._current is not None:
            self._current.abandon()
            self._current = None
        await self._http.close()

    async def __aenter__(self) -> TrickleSubscriber:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- fetching one segment ------------------------------------------------------------------

    def _start(self, seq: int) -> asyncio.Task[Segment | None]:
        return asyncio.create_task(self._fetch(seq), name=f"trickle-get {self.shown}/{seq}")

    def session(self) -> aiohttp.ClientSession:
        return self._http.get()

    async def _fetch(self, seq: int) -> Segment | None:
        """GET ``seq`` until a segment starts (or the channel ends), following 470s."""
        loop = asyncio.get_running_loop()
        deadline = (
            None if self._first_byte_timeout is None else loop.time() + self._first_byte_timeout
        )
        errors = jumps = 0
        while True:
            url = f"{self.url}/{seq}"
            shown = f"{self.shown}/{seq}"
            wait = self._refresh if deadline is None else min(self._refresh, deadline - loop.time())
            if wait <= 0:
                raise TrickleTimeout(url, "the segment to start", self._first_byte_timeout or 0.0)
            try:
                resp = await with_timeout(self.session().get(url), wait)
            except asyncio.TimeoutError:
                log.debug("GET %s: no segment start in %.1fs, re-issuing", shown, wait)
                continue
            except aiohttp.ClientConnectorCertificateError as exc:
                raise ProtocolError(url, 0, f"TLS certificate rejected: {exc}") from exc
            except connection_errors as exc:
                errors += 1
                self.connect_failures += 1
                self.last_failure = scrub(str(exc), url)
                await self._backoff(url, errors, 0, str(exc), exc)
                continue
            self.responses += 1
            outcome = await self._outcome(url, seq, resp)
            if isinstance(outcome, Segment) or outcome is None:
                return outcome
            if outcome == seq:  # an unexpected status: retry the same seq
                errors += 1
                await self._backoff(url, errors, resp.status, resp.reason or "", None)
            else:
                jumps += 1  # a 470: bounded too, in case a server keeps moving the target away
                if jumps > 4 * (self.max_retries + 1):
                    raise ProtocolError(url, resp.status, "segment never became available")
            seq = outcome

    async def _outcome(
        self, url: str, seq: int, resp: aiohttp.ClientResponse
    ) -> Segment | int | None:
        """A segment, None (end of channel), or the seq to ask for next."""
        if resp.status == 200 and h.CLOSED not in resp.headers:
            got = h.parse_int(resp.headers.get(h.SEQ))
            real = got if got is not None and got >= 0 else seq
            return Segment(self, real, f"{self.url}/{real}", resp)
        body = await _short_body(resp)
        if resp.status == 200 or resp.status == 404:
            self.end_reason = "closed" if resp.status == 200 else "not_found"
            log.info("trickle channel %s ended (%s)", self.shown, self.end_reason)
            return None
        if resp.status == h.STATUS_NOT_AVAILABLE:
            latest = h.parse_int(resp.headers.get(h.LATEST))
            target = latest if latest is not None and latest >= 0 else h.SEQ_NEXT
            if seq >= 0 and target > seq:
                self.skipped += target - seq
                log.warning(
                    "%s: segment %d gone, skipping %d to %d", self.shown, seq, target - seq, target
                )
            if target == seq:
                await asyncio.sleep(self.retry_delay)
            return target
        log.warning(
            "GET %s: HTTP %d %s", redact_channel_url(url), resp.status, scrub(body[:200], url)
        )
        return seq

    async def _backoff(
        self, url: str, errors: int, status: int, detail: str, exc: BaseException | None
    ) -> None:
        if errors > self.max_retries:
            raise ProtocolError(url, status, detail) from exc
        delay = min(self.retry_delay * 2 ** (errors - 1), 5.0)
        log.warning(
            "GET %s failed (%s); retry %d/%d in %.2fs",
            redact_channel_url(url),
            scrub(detail, url),
            errors,
            self.max_retries,
            delay,
        )
        await asyncio.sleep(delay)


async def _short_body(resp: aiohttp.ClientResponse) -> str:
    try:
        return (await with_timeout(resp.content.read(4096), 5.0)).decode("utf-8", "replace")
    except (asyncio.TimeoutError, *connection_errors):
        return ""
    finally:
        resp.release()
