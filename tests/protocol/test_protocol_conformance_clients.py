"""Conformance cases 25–32 of reference ``trickle-protocol.md`` §9: reconnects, concurrency and
the behaviour of our clients (preconnect, seq tracking, terminal conditions, TLS, 1xx)."""

from __future__ import annotations

import asyncio
import ssl
import time

import aiohttp
import pytest
import trustme
from trickle_live.trickle.errors import ChannelClosed, ProtocolError
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.server import TrickleServer
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber

from .conftest import accept_segment, read_chunked


async def get(http: aiohttp.ClientSession, url: str):
    async with http.get(url) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_25_concurrent_re_post_appends(base, http, raw, path):
    first = await raw()
    await first.send_head("POST", path("ch/0"))
    await first.send_chunk(b"Hello")
    await asyncio.sleep(0.05)
    second = await raw()
    await second.send_head("POST", path("ch/0"))
    await second.send_chunk(b"GoodbyWorld")
    await asyncio.sleep(0.05)
    for conn in (second, first):
        await conn.end_body()
        assert (await conn.read_response()).status == 200
    assert (await get(http, base + "ch/0"))[2] == b"HelloGoodbyWorld"


async def test_26_same_seq_retry_after_failed_connect(base, http, raw, path):
    reader = asyncio.create_task(get(http, base + "ch/0"))
    failed = await raw()
    await failed.send_head("POST", path("ch/0"))
    await asyncio.sleep(0.05)
    failed.close()  # dropped before any body byte: the segment must stay usable
    await asyncio.sleep(0.1)
    async with http.post(base + "ch/0", data=b"payload") as resp:
        assert resp.status == 200
    assert (await reader)[2] == b"payload"  # exactly one copy
    assert (await get(http, base + "ch/0"))[2] == b"payload"


async def test_27_subscriber_cancel_returns_promptly(base, server):
    async with TrickleSubscriber(base + "ch") as sub:
        waiting = asyncio.create_task(sub.next_segment())
        await asyncio.sleep(0.1)
        started = time.monotonic()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert time.monotonic() - started < 1.0
    # the server notices the client left and frees the parked handler (disconnect_poll 0.05 s)
    await asyncio.sleep(0.3)
    async with aiohttp.ClientSession() as http, http.post(base + "ch/0", data=b"x") as resp:
        assert resp.status == 200


async def test_28_preconnect_pattern_and_close_order(base, server):
    async with TrickleSubscriber(base + "ch", start_seq=0) as sub:
        pub = TricklePublisher(base + "ch")
        await pub.write_segment(b"zero")
        await asyncio.sleep(0.05)
        channel = server.channels["ch"]
        idle = channel.resident(1)
        assert idle is not None and idle.size == 0 and not idle.closed  # one idle POST ahead
        assert channel.resident(2) is None
        seg = await sub.next_segment()
        assert seg is not None and await seg.read_all() == b"zero"
        # the preconnected GET of seq 1 is parked on the server (reading seq 0's buffered body no
        # longer yields to the loop, so give the GET its moment before the channel goes)
        await asyncio.sleep(0.05)
        await pub.close()  # DELETE first, then the idle POST is dropped: no extra empty segment
        assert await sub.next_segment() is None and sub.end_reason == "closed"
    assert server.channel_names() == []


@pytest.mark.parametrize("start", [-1, -2])
async def test_29_subscriber_follows_seq_plus_one(base, server, start):
    async with TricklePublisher(base + "ch") as pub:
        await pub.write_segment(b"s0")
        await pub.write_segment(b"s1")
        async with TrickleSubscriber(base + "ch", start_seq=start) as sub:
            task = asyncio.create_task(sub.next_segment())
            await asyncio.sleep(0.05)
            await pub.write_segment(b"s2")
            await pub.write_segment(b"s3")
            first = await task
            assert first is not None
            got = [(first.seq, await first.read_all())]
            for _ in range(1 if start == -1 else 2):
                seg = await sub.next_segment()
                assert seg is not None
                got.append((seg.seq, await seg.read_all()))
            if start == -1:
                assert got == [(2, b"s2"), (3, b"s3")]
            else:
                assert got == [(1, b"s1"), (2, b"s2"), (3, b"s3")]


async def test_30_terminal_conditions(scripted, base, server):
    async def not_found(request, headers, reader, writer):
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 17\r\n\r\nStream not found\n")
        await writer.drain()

    srv = await scripted(not_found)
    async with TrickleSubscriber(srv.url + "gone", retry_delay=0.01) as sub:
        assert await sub.next_segment() is None and sub.end_reason == "not_found"
        assert await sub.next_segment() is None
    assert srv.requests == ["GET /gone/-1"]  # exactly one GET, no retry
    async with TrickleSubscriber(base + "ch") as sub:
        task = asyncio.create_task(sub.next_segment())
        await asyncio.sleep(0.05)
        server.delete_channel("ch")
        assert await task is None and sub.end_reason == "closed"


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


async def test_31_tls_self_signed(tls_ca):
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    srv = TrickleServer(autocreate=True)
    url = await srv.serve(ssl_context=server_ctx)
    assert url.startswith("https://")
    try:
        async with TricklePublisher(url + "tls", verify_tls=False) as pub:
            await pub.write_segment(b"secret")  # checks off by default for trickle URLs
            async with TrickleSubscriber(url + "tls", start_seq=0) as sub:
                seg = await sub.next_segment()
                assert seg is not None and await seg.read_all() == b"secret"
            async with TrickleSubscriber(url + "tls", start_seq=0, verify_tls=True) as strict:
                with pytest.raises(ProtocolError, match="certificate"):
                    await strict.next_segment()
            client_ctx = ssl.create_default_context()
            tls_ca.configure_trust(client_ctx)
            from trickle_live.trickle.protocol.http import make_client_session

            async with make_client_session(verify_tls=True, ssl_context=client_ctx) as session:
                async with TrickleSubscriber(url + "tls", start_seq=0, session=session) as trusted:
                    seg = await trusted.next_segment()
                    assert seg is not None and await seg.read_all() == b"secret"
    finally:
        await srv.close()


async def test_32_client_survives_many_100_continue(scripted):
    got: list[bytes] = []

    async def continues(request, headers, reader, writer):
        for _ in range(12):  # before the client has sent a single body byte
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
        got.append(await read_chunked(reader))
        await accept_segment(request, writer)

    srv = await scripted(continues)
    pub = TricklePublisher(srv.url + "ch")
    writer = await pub.next_segment()
    await asyncio.sleep(0.3)  # all 12 interim answers arrive while the POST is idle
    await writer.write(b"after twelve")
    await writer.close()
    assert got == [b"after twelve"]
    await pub.close(delete=False)


async def test_publisher_reports_channel_closed(base, server):
    pub = TricklePublisher(base + "ch")
    await pub.write_segment(b"one")
    writer = await pub.next_segment()
    await asyncio.sleep(0.05)
    server.delete_channel("ch")
    await asyncio.sleep(0.05)
    with pytest.raises(ChannelClosed):
        await writer.write(b"too late")
    await pub.close()


def _open_fds() -> int:
    import os

    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


async def test_nothing_leaks_after_close():
    import threading

    fds, threads = _open_fds(), threading.active_count()
    for _ in range(3):
        srv = TrickleServer(continue_interval=0.05, disconnect_poll=0.02)
        url = await srv.serve()
        srv.create_channel("ch")
        async with TrickleSubscriber(url + "ch", start_seq=0) as sub:
            async with TricklePublisher(url + "ch") as pub:
                reading = asyncio.create_task(sub.next_segment())
                await pub.write_segment(b"a" * 100_000)
                seg = await reading
                assert seg is not None and len(await seg.read_all()) == 100_000
                await pub.next_segment()  # an idle preconnect and a waiting GET are both open
        await srv.close()
    await asyncio.sleep(0.2)
    left = asyncio.all_tasks() - {asyncio.current_task()}
    assert not left, [
        (lambda r: (r.method, r.path, dict(r.headers)) if r is not None else None)(
            t.get_coro().cr_frame.f_locals.get("request")
        )
        for t in left
    ]
    assert threading.active_count() == threads
    assert _open_fds() <= fds
