"""The HTTP handlers of :class:`~.server.TrickleServer` (reference ``trickle-protocol.md`` §3)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from ..redaction import short_name
from . import headers as h
from .channel import Channel
from .segment_buffer import SegmentBuffer

log = logging.getLogger(__name__)

Hook = Callable[[web.Request, str], "Awaitable[None] | None"]


class HookError(Exception):
    """Raised by a create/delete hook to refuse: a 4xx ``status`` is answered as is, others as 400."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or f"refused with {status}")
        self.status = status
        self.message = message


_SEQ_RE = re.compile(r"[+-]?[0-9]{1,18}")  # what Go's strconv.Atoi takes (64-bit)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _error(status: int, text: str, *, close: bool = False) -> web.Response:
    """A go-livepeer style error: ``http.Error`` text plus newline, plain text."""
    resp = web.Response(
        status=status, text=text + "\n", headers={"X-Content-Type-Options": "nosniff"}
    )
    if close:
        resp.force_close()
    return resp


def _parse_seq(text: str) -> int | None:
    """A segment number, -1 or -2; None for anything else (→ 400 ``Invalid idx``)."""
    if not _SEQ_RE.fullmatch(text):
        return None
    seq = int(text)
    return seq if seq >= h.SEQ_CURRENT else None


def _client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _run_hook(hook: Hook | None, request: web.Request, name: str) -> web.Response | None:
    """Run a create/delete hook; the error response when it refuses (go-livepeer's mapping)."""
    if hook is None:
        return None
    try:
        result = hook(request, name)
        if inspect.isawaitable(result):
            await result
    except HookError as exc:
        return _error(exc.status if 400 <= exc.status < 500 else 400, exc.message or "Refused")
    except Exception:  # a hook is foreign code: its failure is a server error, logged
        log.exception("trickle hook failed for channel %s", short_name(name))
        return _error(500, "Internal server error")
    return None


class ChannelHost(Protocol):
    """What the handlers need of the server they serve (``server.py``'s ``TrickleServer``): its
    channels, and the settings that shape the HTTP answers."""

    autocreate: bool
    continue_interval: float
    disconnect_poll: float
    before_create: Hook | None
    before_delete: Hook | None

    def get_channel(self, name: str) -> Channel | None: ...

    def create_channel(self, name: str, mime_type: str = ...) -> Channel: ...

    def delete_channel(self, name: str) -> bool: ...


class TrickleHandlers:
    """Route handlers bound to one server's channels."""

    def __init__(self, server: ChannelHost) -> None:
        self.server = server

    # -- channel routes ------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        name = request.match_info["channel"]
        refused = await _run_hook(self.server.before_create, request, name)
        if refused is not None:
            return refused
        if self.server.get_channel(name) is None:
            if not self.server.autocreate:
                return _error(404, h.STREAM_NOT_FOUND)
            self.server.create_channel(name, request.headers.get(h.EXPECT_CONTENT, ""))
        return web.Response()

    async def delete(self, request: web.Request) -> web.Response:
        refused = await _run_hook(self.server.before_delete, request, request.match_info["channel"])
        if refused is not None:
            return refused
        if not self.server.delete_channel(request.match_info["channel"]):
            return _error(400, "Invalid stream")
        return web.Response()

    async def delete_seq(self, request: web.Request) -> web.Response:
        channel = self.server.get_channel(request.match_info["channel"])
        if channel is None:
            return _error(404, h.STREAM_NOT_FOUND)
        seq = _parse_seq(request.match_info["seq"])
        if seq is None or seq < 0:
            return _error(400, h.INVALID_IDX)
        if not channel.close_seq(seq):
            return _error(400, "Nonexistent segment")
        return web.Response()

    # -- GET: subscribe ------------------------------------------------------------------------

    async def get(self, request: web.Request) -> web.StreamResponse:
        channel = self.server.get_channel(request.match_info["channel"])
        if channel is None:
            return _error(404, h.STREAM_NOT_FOUND)
        seq_text = request.match_info["seq"]
        if seq_text == "next":
            return self._next(channel)
        requested = _parse_seq(seq_text)
        if requested is None:
            return _error(400, h.INVALID_IDX)
        head_at_request = channel.next_write
        seq = channel.resolve_read(requested)
        seg = channel.segment_for_read(seq)
        if seg is None:
            return self._not_available(channel, seq_text)
        while seg.size == 0 and not seg.closed:  # headers wait for the first byte (§3.4)
            if not await seg.wait_change(0, self.server.disconnect_poll) and _client_gone(request):
                return web.Response(status=499)  # nobody to answer; frees this handler
        if seg.size == 0:
            return self._empty(channel, seq)
        resp = web.StreamResponse(headers={h.SEQ: str(seq), "Content-Type": channel.mime_type})
        if seq != head_at_request:
            resp.headers[h.LATEST] = str(channel.next_write)
        resp.enable_chunked_encoding()
        try:  # a reader that left (before the headers or mid-body) is normal: one debug line
            await resp.prepare(request)
            await self._stream(request, resp, seg)
        except ConnectionError:
            log.debug("subscriber of %s/%d went away", short_name(channel.name), seq)
        return resp

    async def _stream(
        self, request: web.Request, resp: web.StreamResponse, seg: SegmentBuffer
    ) -> None:
        index = 0
        while not seg.at_end(index):
            data, index = seg.read_from(index)
            if data:
                await resp.write(data)
            elif not await seg.wait_change(index, self.server.disconnect_poll):
                if _client_gone(request):
                    return
        await resp.write_eof()

    def _next(self, channel: Channel) -> web.Response:
        resp = web.Response(text=str(channel.next_write))
        resp.headers[h.LATEST] = str(channel.next_write)
        if channel.closed:
            resp.headers[h.CLOSED] = h.CLOSED_VALUE
        return resp

    def _not_available(self, channel: Channel, seq_text: str) -> web.Response:
        """470, or 200 + ``Lp-Trickle-Closed`` when the channel has been closed."""
        resp = web.Response(status=h.STATUS_NOT_AVAILABLE, text=h.ENTRY_NOT_FOUND)
        resp.headers[h.LATEST] = str(channel.next_write)
        resp.headers[h.SEQ] = seq_text
        if channel.closed:
            resp.set_status(200)
            resp.headers[h.CLOSED] = h.CLOSED_VALUE
        return resp

    def _empty(self, channel: Channel, seq: int) -> web.Response:
        """A segment closed with no bytes: an empty segment, or end of stream if the channel closed."""
        resp = web.Response()
        resp.headers[h.SEQ] = str(seq)
        resp.headers[h.LATEST] = str(channel.next_write)
        if channel.closed:
            resp.headers[h.CLOSED] = h.CLOSED_VALUE
        return resp

    # -- POST: publish -------------------------------------------------------------------------

    async def post(self, request: web.Request) -> web.Response:
        name = request.match_info["channel"]
        channel = self.server.get_channel(name)
        if channel is None and not self.server.autocreate:
            return _error(404, h.STREAM_NOT_FOUND, close=True)
        requested = _parse_seq(request.match_info["seq"])
        if requested is None or requested == h.SEQ_CURRENT:
            return _error(400, h.INVALID_IDX, close=True)
        if channel is None:
            channel = self.server.create_channel(name, request.headers.get("Content-Type", ""))
        seq = channel.next_write if requested == h.SEQ_NEXT else requested
        reset = bool(request.headers.get(h.RESET, "").strip())
        restart = channel.is_restart(seq, reset)
        seg = channel.segment_for_write(seq, restart)
        if reset:
            channel.close_before(seq)
        if seg is None:
            # Its slot holds a newer segment: a late POST, or a preconnect of a publisher that is
            # restarting (its seq 0 has not started yet). Park it; decide at its first byte.
            seg = SegmentBuffer(seq)
            channel.parked.add(seg)
            try:
                return await self._receive(request, channel, seg, restart, parked=True)
            finally:
                channel.parked.discard(seg)
        return await self._receive(request, channel, seg, restart)

    async def _receive(
        self,
        request: web.Request,
        channel: Channel,
        seg: SegmentBuffer,
        restart: bool,
        *,
        parked: bool = False,
    ) -> web.Response:
        try:
            first = await self._first_bytes(request, seg)
        except ConnectionError:
            log.debug(
                "publisher of %s/%d went away before sending", short_name(channel.name), seg.seq
            )
            return web.Response(status=499)  # nothing written: the segment stays as it was
        if parked and not seg.closed:
            placed = channel.segment_for_write(seg.seq, restart)
            if placed is None:  # still late: never evict newer data, never move the head back
                resp = self._not_available(channel, str(seg.seq))
                resp.force_close()
                return resp
            seg = placed
        channel.started(seg.seq, restart)
        if seg.closed and first:
            log.info(
                "%s/%d is complete: re-POSTed bytes dropped", short_name(channel.name), seg.seq
            )
        if not first:
            seg.close()
            return self._released(channel, seg.seq)
        seg.append(first)
        try:
            while data := await request.content.readany():
                seg.append(data)
        except ConnectionError:
            log.warning(
                "upload of %s/%d aborted after %d bytes",
                short_name(channel.name),
                seg.seq,
                seg.size,
            )
            seg.close()  # readers end cleanly with what arrived (go-livepeer leaves it open: B3)
            return _error(500, "Server error", close=True)
        seg.close()
        return web.Response(headers={h.SEQ: str(seg.seq)})

    async def _first_bytes(self, request: web.Request, seg: SegmentBuffer) -> bytes:
        """The first body bytes; b"" at end of body or when the segment is closed meanwhile.

        While nothing arrives, an interim ``100 Continue`` goes out every ``continue_interval``
        seconds (go-livepeer does the same every 10 s), written raw before the final response.
        """
        read = asyncio.ensure_future(request.content.readany())
        closed = asyncio.ensure_future(seg.wait_closed())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {read, closed},
                    timeout=self.server.continue_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if read in done:
                    return read.result()
                if closed in done:
                    return b""
                if request.version >= (1, 1):
                    await request.writer.write(_CONTINUE)
        finally:
            for task in (read, closed):
                if not task.done():
                    task.cancel()
            await asyncio.gather(read, closed, return_exceptions=True)

    def _released(self, channel: Channel, seq: int) -> web.Response:
        """An empty body, or a POST released because its segment was closed while it waited."""
        resp = web.Response(headers={h.SEQ: str(seq)})
        if channel.closed:
            resp.headers[h.CLOSED] = h.CLOSED_VALUE
        resp.force_close()
        return resp
