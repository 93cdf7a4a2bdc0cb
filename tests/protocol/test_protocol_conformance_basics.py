"""Conformance cases 1–14 of reference ``trickle-protocol.md`` §9 (channels, publish/subscribe)
against the in-process server, with plain aiohttp requests and a raw HTTP/1.1 client."""

from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest
from trickle_live.trickle.protocol.server import HookError, TrickleServer

SEQ, LATEST, CLOSED = "Lp-Trickle-Seq", "Lp-Trickle-Latest", "Lp-Trickle-Closed"


async def post(http: aiohttp.ClientSession, url: str, body: bytes = b"", **headers: str):
    async with http.post(url, data=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def get(http: aiohttp.ClientSession, url: str):
    async with http.get(url) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_01_create_without_autocreate(base, http):
    assert (await post(http, base + "missing"))[0] == 404
    status, headers, _ = await post(http, base + "missing/0", b"hello")
    assert status == 404 and headers.get("Connection", "").lower() == "close"


async def test_02_create_with_autocreate(http):
    srv = TrickleServer(autocreate=True)
    url = await srv.serve()
    try:
        assert (await post(http, url + "created"))[0] == 200
        assert (await post(http, url + "published/0", b"hello"))[0] == 200
        assert set(srv.channel_names()) == {"created", "published"}
        assert (await get(http, url + "published/0"))[2] == b"hello"
    finally:
        await srv.close()


async def test_03_create_hook(http):
    seen: list[str] = []

    def hook(request, name):
        seen.append(request.headers.get("Expect-Content", ""))
        if name == "forbidden":
            raise HookError(403, "no")
        if name == "broken":
            raise RuntimeError("hook bug")

    srv = TrickleServer(autocreate=True, before_create=hook)
    url = await srv.serve()
    try:
        assert (await post(http, url + "created", **{"Expect-Content": "text/plain"}))[0] == 200
        assert seen == ["text/plain"] and srv.channels["created"].mime_type == "text/plain"
        assert (await get(http, url + "created/next"))[0] == 200
        assert (await post(http, url + "forbidden"))[0] == 403
        assert (await get(http, url + "forbidden/next"))[0] == 404
        assert (await post(http, url + "broken"))[0] == 500
    finally:
        await srv.close()


async def test_04_delete(base, http, server):
    async with http.delete(base + "ch") as resp:
        assert resp.status == 200
    assert (await get(http, base + "ch/next"))[0] == 404
    assert (await get(http, base + "ch/0"))[0] == 404
    assert (await post(http, base + "ch/0", b"x"))[0] == 404
    async with http.delete(base + "unknown") as resp:
        assert resp.status == 400


async def test_04_delete_hook(http):
    def hook(request, name):
        if name == "keep":
            raise HookError(401, "unauthorized")
        if name == "broken":
            raise ValueError("hook bug")

    srv = TrickleServer(before_delete=hook)
    url = await srv.serve()
    try:
        srv.create_channel("keep")
        srv.create_channel("broken")
        async with http.delete(url + "keep") as resp:
            assert resp.status == 401
        assert "keep" in srv.channel_names()
        async with http.delete(url + "broken") as resp:
            assert resp.status == 500
    finally:
        await srv.close()


async def test_05_next(base, http):
    status, headers, body = await get(http, base + "ch/next")
    assert (status, body, headers[LATEST]) == (200, b"0", "0")
    await post(http, base + "ch/0", b"a")
    await post(http, base + "ch/1", b"b")
    assert (await get(http, base + "ch/next"))[2] == b"2"
    assert (await get(http, base + "nope/next"))[0] == 404


async def test_06_sequential_round_trip(base, http):
    for seq, body in ((0, b"first"), (1, b"second")):
        status, headers, _ = await post(http, base + f"ch/{seq}", body)
        assert status == 200 and headers[SEQ] == str(seq)
    for seq, body in ((0, b"first"), (1, b"second")):
        status, headers, got = await get(http, base + f"ch/{seq}")
        assert (status, got, headers[SEQ], headers[LATEST]) == (200, body, str(seq), "2")


async def test_07_random_access_in_window(base, http):
    for seq in range(4):
        await post(http, base + f"ch/{seq}", f"seg{seq}".encode())
    for seq in (2, 0, 3, 1, 0):
        assert (await get(http, base + f"ch/{seq}"))[2] == f"seg{seq}".encode()


async def test_08_start_positions(base, http):
    waiting = asyncio.create_task(get(http, base + "ch/-1"))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await post(http, base + "ch/0", b"zero")
    status, headers, body = await waiting
    assert (status, body, headers[SEQ]) == (200, b"zero", "0")
    await post(http, base + "ch/1", b"one")
    status, headers, body = await get(http, base + "ch/-2")
    assert (body, headers[SEQ]) == (b"one", "1")
    nxt = asyncio.create_task(get(http, base + "ch/-1"))
    await asyncio.sleep(0.1)
    assert not nxt.done()
    await post(http, base + "ch/2", b"two")
    assert (await nxt)[1][SEQ] == "2"
    assert (await get(http, base + "ch/1"))[1][SEQ] == "1"


async def test_09_live_streaming(raw, path):
    sub = await raw()
    await sub.send_head("GET", path("ch/0"))
    pub = await raw()
    await pub.send_head("POST", path("ch/0"))
    await pub.send_chunk(b"Hello")
    resp = await sub.read_response()
    assert resp.status == 200 and resp.headers["lp-trickle-seq"] == "0"
    assert await sub.read_chunk() == b"Hello"  # before the POST has ended
    await pub.send_chunk(b" world")
    assert await sub.read_chunk() == b" world"
    await pub.end_body()
    assert await sub.read_chunk() == b""  # the GET body ends with the POST body
    assert (await pub.read_response()).status == 200


async def test_10_headers_held_back_until_first_byte(base, http):
    pending = asyncio.ensure_future(http.get(base + "ch/0"))
    done, _ = await asyncio.wait({pending}, timeout=0.5)
    assert not done, "headers must wait for the segment's first byte"
    await post(http, base + "ch/0", b"x")
    resp = await pending
    assert await resp.read() == b"x"
    resp.release()


async def test_11_empty_segment(base, http):
    assert (await post(http, base + "ch/0", b""))[0] == 200
    status, headers, body = await get(http, base + "ch/0")
    assert (status, body, headers[SEQ], headers[LATEST]) == (200, b"", "0", "1")
    assert CLOSED not in headers
    assert (await get(http, base + "ch/next"))[2] == b"1"


async def test_12_preconnected_post_gets_100_continue(raw, path):
    pub = await raw()
    await pub.send_head("POST", path("ch/1"))
    await asyncio.sleep(0.7)  # continue_interval is 0.2 s here (10 s in production)
    await pub.send_chunk(b"late data")
    await pub.end_body()
    resp = await pub.read_response()
    assert resp.interim.count(100) >= 2
    assert resp.status == 200 and resp.headers["lp-trickle-seq"] == "1"


async def test_13_out_of_order_preconnects(raw, path, base, http):
    one = await raw()
    await one.send_head("POST", path("ch/1"))
    await asyncio.sleep(0.05)
    zero = await raw()
    await zero.send_head("POST", path("ch/0"))
    await asyncio.sleep(0.05)
    for conn, body in ((zero, b"zero"), (one, b"one")):
        await conn.send_chunk(body)
        await conn.end_body()
        assert (await conn.read_response()).status == 200
    assert (await get(http, base + "ch/next"))[2] == b"2"
    assert [(await get(http, base + f"ch/{s}"))[:3:2] for s in (0, 1)] == [
        (200, b"zero"),
        (200, b"one"),
    ]


@pytest.mark.parametrize("size", [5 * 1024 * 1024])
async def test_14_large_segment_random_chunks(base, http, size):
    rng = random.Random(14)
    data = rng.randbytes(size)
    reader = asyncio.create_task(get(http, base + "ch/0"))

    async def body():
        pos = 0
        while pos < size:
            step = rng.choice((1, 7, 4096, 32 * 1024 + 3, 300_000, 1 << 20))
            yield data[pos : pos + step]
            pos += step

    async with http.post(base + "ch/0", data=body()) as resp:
        assert resp.status == 200
    assert (await reader)[2] == data
    assert (await get(http, base + "ch/0"))[2] == data  # a late reader gets it all too
