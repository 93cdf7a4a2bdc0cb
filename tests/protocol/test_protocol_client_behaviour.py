"""Client behaviours of issue #2 beyond the numbered cases: the subscriber preconnects the next
GET as soon as a segment starts; it retries a failing GET with bounded, growing backoff and then
delivers the segment, or gives up with a typed error; the publisher re-POSTs the same seq when a
POST failed before any body byte was sent, and a deleted channel is a typed ChannelNotFound."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from trickle_live.trickle.errors import ChannelNotFound, ProtocolError
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber

from .conftest import accept_segment, read_chunked

UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy\n"


async def test_subscriber_retries_transient_errors_with_growing_backoff(scripted):
    seen: list[float] = []

    async def handler(request, headers, reader, writer):
        seen.append(time.monotonic())
        if len(seen) <= 3:
            writer.write(UNAVAILABLE)
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nLp-Trickle-Seq: 0\r\nContent-Length: 4\r\n\r\ndata")
        await writer.drain()

    srv = await scripted(handler)
    async with TrickleSubscriber(srv.url + "ch", start_seq=0, retry_delay=0.05) as sub:
        seg = await sub.next_segment()
        assert seg is not None and (seg.seq, await seg.read_all()) == (0, b"data")
    assert srv.requests[:4] == ["GET /ch/0"] * 4  # the same seq each time
    gaps = [b - a for a, b in zip(seen, seen[1:4], strict=False)]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.09 and gaps[2] >= 0.18  # 0.05 · 2^n


async def test_subscriber_gives_up_after_max_retries_with_a_typed_error(scripted):
    async def handler(request, headers, reader, writer):
        writer.write(UNAVAILABLE)
        await writer.drain()

    srv = await scripted(handler)
    async with TrickleSubscriber(srv.url + "ch", retry_delay=0.01, max_retries=3) as sub:
        with pytest.raises(ProtocolError) as err:
            await sub.next_segment()
    assert err.value.status == 503 and err.value.url == srv.url + "ch/-1"
    assert len(srv.requests) == 4  # the first try and 3 retries, then no more


async def test_publisher_re_posts_the_same_seq_after_a_failure_before_any_byte(scripted):
    bodies: dict[str, bytes] = {}
    attempts: list[str] = []

    async def handler(request, headers, reader, writer):
        attempts.append(request)
        if request == "POST /ch/0" and attempts.count(request) == 1:
            return  # the connection drops before the client sent a byte of body
        if request.startswith("POST"):
            bodies[request] = await read_chunked(reader)
            await accept_segment(request, writer)

    srv = await scripted(handler)
    pub = TricklePublisher(srv.url + "ch")
    writer = await pub.next_segment()
    await asyncio.sleep(0.5)  # the first POST fails meanwhile and is opened again
    await writer.write(b"payload")
    await writer.close()
    assert attempts.count("POST /ch/0") == 2 and bodies["POST /ch/0"] == b"payload"
    await pub.close(delete=False)


async def test_publisher_to_a_channel_that_is_gone_raises_channel_not_found(base, server):
    server.delete_channel("ch")
    pub = TricklePublisher(base + "ch")
    with pytest.raises(ChannelNotFound) as err:
        await pub.write_segment(b"nobody listens")
    assert err.value.url == base + "ch/0"
    await asyncio.wait_for(pub.close(), 5)  # the DELETE gets 400 (no channel): still closes


async def test_subscriber_preconnects_the_next_get_while_the_caller_reads(base, server):
    async with aiohttp.ClientSession() as http, http.post(base + "ch/0", data=b"zero") as resp:
        assert resp.status == 200
    channel = server.channels["ch"]
    assert channel.resident(1) is None
    async with TrickleSubscriber(base + "ch", start_seq=0) as sub:
        seg = await sub.next_segment()
        assert seg is not None and seg.seq == 0
        for _ in range(100):  # the GET of seq 1 is parked on the server (grace rule pre-create)
            if channel.resident(1) is not None:
                break
            await asyncio.sleep(0.01)
        assert channel.resident(1) is not None, "no GET for seq 1 before the caller asked"
        assert await seg.read_all() == b"zero"
