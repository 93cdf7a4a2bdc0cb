"""Faults (issue #2): server closes mid-segment, slow first byte, a subscriber more than 5 segments
behind, channel deleted while a GET waits, publisher restarts with reset; and go-livepeer's server
bugs of go-livepeer's server (docs/protocol.md) that ours must not repeat."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from trickle_live.trickle.errors import ProtocolError, TrickleTimeout
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber

PAYLOAD = bytes(range(256)) * 64  # 16 KiB


def chunked_head(seq: int) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nLp-Trickle-Seq: {seq}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def test_server_closes_mid_segment_is_resumed(scripted):
    cuts = {"left": 2}

    async def handler(request, headers, reader, writer):
        if not request.endswith("/ch/0"):
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        elif cuts["left"] > 0:  # part of the body, then the connection drops
            cuts["left"] -= 1
            writer.write(chunked_head(0) + chunk(PAYLOAD[:5000]))
        else:
            writer.write(chunked_head(0) + chunk(PAYLOAD) + b"0\r\n\r\n")
        await writer.drain()

    srv = await scripted(handler)
    async with TrickleSubscriber(srv.url + "ch", start_seq=0, retry_delay=0.01) as sub:
        seg = await sub.next_segment()
        assert seg is not None and await seg.read_all() == PAYLOAD  # each byte exactly once
        assert await sub.next_segment() is None
    assert srv.requests.count("GET /ch/0") == 3


async def test_server_always_cutting_gives_typed_error(scripted):
    async def handler(request, headers, reader, writer):
        writer.write(chunked_head(0) + chunk(b"partial"))
        await writer.drain()

    srv = await scripted(handler)
    async with TrickleSubscriber(
        srv.url + "ch", start_seq=0, retry_delay=0.01, max_retries=2
    ) as sub:
        seg = await sub.next_segment()
        assert seg is not None
        with pytest.raises(ProtocolError, match="cut off"):
            await seg.read_all()


async def test_server_gone_gives_typed_error(base, server):
    async with TrickleSubscriber(base + "ch", retry_delay=0.01, max_retries=2) as sub:
        task = asyncio.create_task(sub.next_segment())
        await asyncio.sleep(0.05)
        await server.close()  # ends the waiting GET with Lp-Trickle-Closed
        assert await task is None
    async with TrickleSubscriber(base + "ch", retry_delay=0.01, max_retries=2) as sub:
        with pytest.raises(ProtocolError) as err:
            await sub.next_segment()
        assert err.value.status == 0 and err.value.url.endswith("/ch/-1")


async def test_slow_first_byte(base, server):
    async with TricklePublisher(base + "ch") as pub:
        writer = await pub.next_segment()
        async with TrickleSubscriber(base + "ch", refresh_interval=0.15) as sub:
            task = asyncio.create_task(sub.next_segment())
            await asyncio.sleep(0.5)  # the GET is re-issued every 0.15 s meanwhile
            await writer.write(b"finally")
            await writer.close()
            seg = await asyncio.wait_for(task, 5)
            assert seg is not None and await seg.read_all() == b"finally"
        async with TrickleSubscriber(base + "ch", first_byte_timeout=0.3) as sub:
            with pytest.raises(TrickleTimeout):
                await sub.next_segment()


async def test_subscriber_more_than_5_segments_behind(base, server):
    async with (
        TricklePublisher(base + "ch") as pub,
        TrickleSubscriber(base + "ch", start_seq=0) as sub,
    ):
        await pub.write_segment(b"s0")
        seg = await sub.next_segment()
        assert seg is not None and await seg.read_all() == b"s0"
        for i in range(1, 9):
            await pub.write_segment(f"s{i}".encode())
        got = []
        task = asyncio.create_task(sub.next_segment())
        seg = await task
        got.append(seg.seq)  # seq 1: its GET was preconnected while s0 was read
        await seg.read_all()
        task = asyncio.create_task(sub.next_segment())
        await asyncio.sleep(0.1)
        await pub.write_segment(b"s9")
        seg = await task
        assert seg is not None and (seg.seq, await seg.read_all()) == (9, b"s9")
        assert got == [1] and sub.skipped == 7  # 2..8 were jumped over


async def test_channel_deleted_while_get_waits(base, server):
    async with TrickleSubscriber(base + "ch", start_seq=-2) as sub:
        task = asyncio.create_task(sub.next_segment())
        await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as http, http.delete(base + "ch") as resp:
            assert resp.status == 200
        assert await asyncio.wait_for(task, 2) is None and sub.end_reason == "closed"


async def test_publisher_restarts_with_reset(base, server, raw, path):
    async with TricklePublisher(base + "ch") as old:
        for i in range(3):
            await old.write_segment(f"old{i}".encode())
        await old.close(delete=False)
    crashed = await raw()  # an old publisher died mid-segment 3, its body never ends
    await crashed.send_head("POST", path("ch/3"))
    await crashed.send_chunk(b"half")
    async with TrickleSubscriber(base + "ch", start_seq=3) as sub:
        seg3 = await sub.next_segment()
        assert seg3 is not None
        reading = asyncio.create_task(seg3.read_all())
        new = TricklePublisher(base + "ch", reset=True)
        await new.write_segment(b"new")
        assert await asyncio.wait_for(reading, 2) == b"half"  # Reset released the open segment
        seg = await sub.next_segment()
        assert seg is not None and (seg.seq, await seg.read_all()) == (4, b"new")
        await new.close()


async def test_new_publisher_from_zero_takes_over(base, server):
    """A publisher that restarts at 0 without Reset (pytrickle does) is followed by subscribers."""
    async with TricklePublisher(base + "ch") as old:
        for i in range(7):
            await old.write_segment(f"old{i}".encode())
        await old.close(delete=False)
    async with TrickleSubscriber(base + "ch", start_seq=-1) as sub:
        task = asyncio.create_task(sub.next_segment())
        await asyncio.sleep(0.05)
        async with TricklePublisher(base + "ch") as new:
            for i in range(3):
                await new.write_segment(f"new{i}".encode())
            bodies = []
            for _ in range(4):
                seg = await asyncio.wait_for(task, 3)
                assert seg is not None
                bodies.append(await seg.read_all())
                if b"new2" in bodies:
                    break
                task = asyncio.create_task(sub.next_segment())
            assert not any(b.startswith(b"old") for b in bodies)
            assert bodies[-1] == b"new2"
            await new.close()
        assert server.channels.get("ch") is None


async def test_bug_b1_other_negative_seqs_are_400(base, server):
    async with aiohttp.ClientSession() as http:
        for method, seq in (("GET", "-3"), ("POST", "-2"), ("DELETE", "-1"), ("DELETE", "-2")):
            async with http.request(method, f"{base}ch/{seq}", data=b"x") as resp:
                assert (resp.status, await resp.text()) == (400, "Invalid idx\n"), (method, seq)
        async with http.post(base + "ch/0", data=b"still works") as resp:  # not wedged
            assert resp.status == 200
    assert server.sweep_idle() == []


async def test_bug_b3_aborted_upload_closes_its_segment(base, server, raw, path):
    pub = await raw()
    await pub.send_head("POST", path("ch/0"))
    await pub.send_chunk(b"partial")
    async with TrickleSubscriber(base + "ch", start_seq=0) as sub:
        seg = await sub.next_segment()
        assert seg is not None
        reading = asyncio.create_task(seg.read_all())
        await asyncio.sleep(0.05)
        pub.close()  # the upload dies mid-body
        assert await asyncio.wait_for(reading, 2) == b"partial"


async def test_bug_b2_late_post_never_moves_head_back(base, server):
    async with aiohttp.ClientSession() as http:
        for seq in range(10):
            async with http.post(f"{base}ch/{seq}", data=f"s{seq}".encode()) as resp:
                assert resp.status == 200
        async with http.post(base + "ch/4", data=b"late") as resp:  # slot 4 holds seq 9
            assert resp.status == 470 and resp.headers["Lp-Trickle-Latest"] == "10"
        async with http.post(base + "ch/6", data=b"again") as resp:  # resident, complete
            assert resp.status == 200
        async with http.get(base + "ch/next") as resp:
            assert await resp.text() == "10"
        for seq, body in ((9, b"s9"), (6, b"s6")):
            async with http.get(f"{base}ch/{seq}") as resp:
                assert await resp.read() == body
