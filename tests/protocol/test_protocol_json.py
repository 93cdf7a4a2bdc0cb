"""Conformance cases 35–37 of reference ``trickle-protocol.md`` §9 at the JSON level: the control
reader, the events writer, and JSON-lines data segments (BYOC)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from trickle_live.trickle.protocol.json_channels import ControlReader, EventsWriter
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber


async def collect(reader: ControlReader, count: int) -> list[dict]:
    out: list[dict] = []
    async for message in reader:
        out.append(message)
        if len(out) == count:
            break
    return out


async def test_35_control_keepalive_ignored_params_once(base, server):
    server.create_channel("ctl", "application/json")
    skipped: list[tuple[int, str]] = []
    async with ControlReader(
        base + "ctl", start_seq=-1, on_malformed=lambda seq, why: skipped.append((seq, why))
    ) as reader:
        task = asyncio.create_task(collect(reader, 2))
        await asyncio.sleep(0.05)
        async with TricklePublisher(base + "ctl", "application/json") as pub:
            for body in (
                b'{"keep":"alive"}',
                b'{"prompt":"x"}',
                b'{"keep": "alive"}',
                b"",
                b'{"strength":0.5}',
            ):
                await pub.write_segment(body)
            messages = await asyncio.wait_for(task, 5)
        assert messages == [{"prompt": "x"}, {"strength": 0.5}]
        assert skipped == []  # keepalives and empty segments are not malformed


async def test_35_control_minus_2_gets_latest_params_on_start(base, server):
    server.create_channel("ctl", "application/json")
    async with TricklePublisher(base + "ctl", "application/json") as pub:
        await pub.write_segment(b'{"prompt":"old"}')
        await pub.write_segment(b'{"prompt":"latest"}')
        async with ControlReader(base + "ctl") as reader:  # start_seq=-2 by default
            assert await asyncio.wait_for(collect(reader, 1), 5) == [{"prompt": "latest"}]


async def test_35_control_malformed_and_oversized_are_skipped(base, server):
    server.create_channel("ctl", "application/json")
    skipped: list[int] = []
    async with ControlReader(
        base + "ctl", start_seq=0, max_bytes=1000, on_malformed=lambda seq, why: skipped.append(seq)
    ) as reader:
        task = asyncio.create_task(collect(reader, 1))
        async with TricklePublisher(base + "ctl", "application/json") as pub:
            await pub.write_segment(b"{not json")
            await pub.write_segment(b"[1, 2]")
            await pub.write_segment(json.dumps({"big": "x" * 5000}).encode())
            writer = await pub.next_segment()  # one object written in many small pieces
            for piece in (b'{"pro', b'mpt": ', b'"split', b' across chunks"}'):
                await writer.write(piece)
                await asyncio.sleep(0.01)
            await writer.close()
            assert await asyncio.wait_for(task, 5) == [{"prompt": "split across chunks"}]
        assert skipped == [0, 1, 2]


async def test_36_events_one_json_object_per_segment(base, server):
    server.create_channel("ev", "application/json")
    async with TrickleSubscriber(base + "ev", start_seq=0) as sub:
        events = EventsWriter(base + "ev")
        sent = [
            {
                "event": {"type": "status", "state": "ONLINE", "n": i},
                "queue_event_type": "ai_stream_events",
            }
            for i in range(6)
        ]

        async def read_all() -> list:
            got = []
            for _ in sent:
                seg = await sub.next_segment()
                assert seg is not None
                got.append((seg.seq, json.loads(await seg.read_all())))
            return got

        reading = asyncio.create_task(read_all())
        await asyncio.sleep(0.05)
        await asyncio.gather(*(events.send(e) for e in sent))  # concurrent sends are serialised
        got = await asyncio.wait_for(reading, 5)
        assert [seq for seq, _ in got] == list(range(6))  # no duplicate or lost seq
        assert sorted(e["event"]["n"] for _, e in got) == list(range(6))
        assert all(set(e) == {"event", "queue_event_type"} and "type" in e["event"] for _, e in got)
        assert events.sent == 6
        await events.close()
        assert await sub.next_segment() is None  # close() deleted the channel


async def test_36_events_content_type_is_json(base, server, http: aiohttp.ClientSession):
    server.create_channel("ev", "application/json")
    events = EventsWriter(base + "ev")
    await events.send({"event": {"type": "heartbeat"}, "queue_event_type": "stream_heartbeat"})
    async with http.get(base + "ev/0") as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
        assert json.loads(await resp.read())["event"]["type"] == "heartbeat"
    await events.close()


async def test_37_data_segments_json_lines(base, server):
    server.create_channel("data", "application/jsonl")
    lines = [b"[]\n", b'[{"a":1},{"b":2}]\n{"c":3}\n']
    async with TrickleSubscriber(base + "data", start_seq=0) as sub:
        async with TricklePublisher(base + "data", "application/jsonl") as pub:
            for body in lines:
                await pub.write_segment(body)
            for body in lines:
                seg = await sub.next_segment()
                assert seg is not None
                data = await seg.read_all()
                assert data == body and data.endswith(b"\n")
                parsed = [json.loads(line) for line in data.splitlines()]
                assert all(len(line) < 64 * 1024 for line in data.splitlines())
                assert parsed[0] == [] or isinstance(parsed[0], list)
