"""Conformance cases 15–24 of reference ``trickle-protocol.md`` §9: the 5-segment window, 470 and
skipping, close and end of stream, reset and the idle sweep."""

from __future__ import annotations

import asyncio

import aiohttp
from trickle_live.trickle.protocol.server import TrickleServer
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber

SEQ, LATEST, CLOSED = "Lp-Trickle-Seq", "Lp-Trickle-Latest", "Lp-Trickle-Closed"


async def post(http: aiohttp.ClientSession, url: str, body: bytes = b""):
    async with http.post(url, data=body) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def get(http: aiohttp.ClientSession, url: str):
    async with http.get(url) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def publish(http, base: str, seqs) -> None:
    for seq in seqs:
        assert (await post(http, f"{base}ch/{seq}", f"seg{seq}".encode()))[0] == 200


async def still_waiting(task: asyncio.Future, seconds: float = 0.2) -> bool:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return not done


async def test_15_evicted_seq(base, http):
    await publish(http, base, range(11))
    status, headers, body = await get(http, base + "ch/0")
    assert (status, headers[LATEST], headers[SEQ], body) == (470, "11", "0", b"Entry not found")
    waiting = asyncio.create_task(get(http, base + "ch/11"))
    assert await still_waiting(waiting)
    assert (await get(http, base + "ch/13"))[0] == 470
    await post(http, base + "ch/11", b"eleven")
    assert (await waiting)[2] == b"eleven"


async def test_16_skip_to_live_edge(base, http):
    await publish(http, base, range(6))
    assert (await get(http, base + "ch/-2"))[1][SEQ] == "5"
    async with TrickleSubscriber(base + "ch", start_seq=0) as sub:
        nxt = asyncio.create_task(sub.next_segment())
        assert await still_waiting(nxt)  # jumped to Lp-Trickle-Latest (6), which blocks
        await post(http, base + "ch/6", b"live")
        seg = await nxt
        assert seg is not None and (seg.seq, await seg.read_all()) == (6, b"live")
        assert sub.skipped == 6


async def test_17_grace_for_seq_1(base, http):
    waiting = asyncio.create_task(get(http, base + "ch/1"))
    assert await still_waiting(waiting)
    await post(http, base + "ch/1", b"one")
    status, headers, body = await waiting
    assert (status, body, headers[SEQ]) == (200, b"one", "1")


async def test_18_client_470_follows_latest_or_minus_one(scripted):
    async def handler(request, headers, reader, writer):
        if request.endswith("/ch/5"):  # evicted, and no Lp-Trickle-Latest
            writer.write(
                b"HTTP/1.1 470 Entry not found\r\nContent-Length: 15\r\n\r\nEntry not found"
            )
        elif request.endswith("/ch/-1"):
            body = b"live"
            writer.write(
                b"HTTP/1.1 200 OK\r\nLp-Trickle-Seq: 9\r\nContent-Length: 4\r\n\r\n" + body
            )
        else:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    srv = await scripted(handler)
    async with TrickleSubscriber(srv.url + "ch", start_seq=5) as sub:
        seg = await sub.next_segment()
        assert seg is not None and (seg.seq, await seg.read_all()) == (9, b"live")
        assert await sub.next_segment() is None and sub.end_reason == "not_found"
    assert srv.requests[:3] == ["GET /ch/5", "GET /ch/-1", "GET /ch/10"]


async def test_19_eos_at_live_edge(base, http, server):
    await publish(http, base, range(2))
    waiting = asyncio.create_task(get(http, base + "ch/2"))
    assert await still_waiting(waiting)
    assert server.delete_channel("ch")
    status, headers, body = await waiting
    assert (status, body, headers[CLOSED], headers[SEQ]) == (200, b"", "terminated", "2")
    assert (await get(http, base + "ch/2"))[0] == 404


async def test_20_preconnected_publisher_released(base, http, raw, path):
    await publish(http, base, range(2))
    pub = await raw()
    await pub.send_head("POST", path("ch/2"))
    await asyncio.sleep(0.05)
    async with http.delete(base + "ch") as resp:
        assert resp.status == 200
    resp = await pub.read_response()  # without sending any body
    assert resp.status == 200 and resp.headers["lp-trickle-seq"] == "2"
    assert resp.headers["lp-trickle-closed"] == "terminated"
    assert resp.headers["connection"].lower() == "close"
    assert (await post(http, base + "ch/3", b"x"))[0] == 404


async def test_21_mid_segment_reader_on_delete(base, http, raw, path, server):
    await publish(http, base, range(3))
    pub = await raw()
    await pub.send_head("POST", path("ch/3"))
    await pub.send_chunk(b"part")
    async with TrickleSubscriber(base + "ch", start_seq=3) as sub:
        seg = await sub.next_segment()
        assert seg is not None
        chunks = seg.chunks()
        assert await chunks.__anext__() == b"part"
        server.delete_channel("ch")
        assert [c async for c in chunks] == [] and seg.complete  # ends cleanly
        assert await sub.next_segment() is None  # its preconnect saw Closed, or a 404 if later
        assert sub.end_reason in ("closed", "not_found")
    assert (await get(http, base + "ch/4"))[0] == 404


async def test_22_abandon_a_segment(base, http, raw, path):
    await publish(http, base, range(4))
    pub = await raw()
    await pub.send_head("POST", path("ch/4"))
    waiting = asyncio.create_task(get(http, base + "ch/4"))
    assert await still_waiting(waiting, 0.1)
    async with http.delete(base + "ch/4") as resp:
        assert resp.status == 200
    status, headers, body = await waiting
    assert (status, body, headers[SEQ]) == (200, b"", "4") and CLOSED not in headers
    released = await pub.read_response()
    assert released.status == 200 and "lp-trickle-closed" not in released.headers
    async with http.delete(base + "ch/9") as resp:
        assert (resp.status, await resp.text()) == (400, "Nonexistent segment\n")


async def test_23_publisher_reset(base, http, raw, path):
    old = await raw()
    await old.send_head("POST", path("ch/0"))
    await old.send_chunk(b"Hello")  # and never ends the body
    reader = await raw()
    await reader.send_head("GET", path("ch/0"))
    assert (await reader.read_response()).status == 200
    assert await reader.read_chunk() == b"Hello"
    async with http.post(
        base + "ch/-1", data=b"after-reset", headers={"Lp-Trickle-Reset": "true"}
    ) as r:
        assert (r.status, r.headers[SEQ]) == (200, "1")
    assert await reader.read_chunk() == b""  # the blocked reader finishes with what it saw
    assert (await get(http, base + "ch/0"))[2] == b"Hello"
    assert (await get(http, base + "ch/1"))[2] == b"after-reset"


async def test_24_idle_sweep(http):
    srv = TrickleServer(idle_timeout=0.3, sweep_interval=0.05, disconnect_poll=0.05)
    url = await srv.serve()
    try:
        srv.create_channel("idle")
        srv.create_channel("_internal")
        waiting = asyncio.create_task(get(http, url + "idle/0"))
        status, headers, _ = await asyncio.wait_for(waiting, 5)
        assert (status, headers[CLOSED]) == (200, "terminated")
        assert (await get(http, url + "idle/next"))[0] == 404
        assert srv.channel_names() == ["_internal"]
    finally:
        await srv.close()
