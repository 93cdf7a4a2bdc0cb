"""Capacity, pre-emption, stop conditions and failures of a stream (the issue's busy / stale / no input / processor exception / corrupt segment cases)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import numpy as np
from runner_streamkit import (
    clip,
    close_gateways,
    decode,
    end_stream,
    events_of,
    idle,
    open_stream,
    wait_for,
)
from trickle_live.trickle.session.processors import ThreadedProcessor


async def test_busy_runner_answers_500_insufficient_capacity(
    make_runner: Any, orchestrator: Any
) -> None:
    runner = await make_runner(stale_timeout=30)
    first, ch1, status, _, _ = await open_stream(orchestrator, runner.url)
    second = None
    try:
        assert status == 200
        await first.publish(clip(1.0))
        second, ch2, status, body, _ = await open_stream(orchestrator, runner.url)
        assert status == 500 and "insufficient capacity" in body["detail"]["msg"]
        assert [s["stream_id"] for s in runner.api.manager.list()] == [f"stream-{ch1.mid}"]
        orchestrator.close_channels(ch2)
    finally:
        orchestrator.close_channels(ch1)
        await wait_for(lambda: idle(runner), 10)
        await first.close()
        if second is not None:
            await second.close()


async def test_stale_stream_is_preempted(make_runner: Any, orchestrator: Any) -> None:
    runner = await make_runner(stale_timeout=0.5)
    first, ch1, status, _, _ = await open_stream(orchestrator, runner.url)
    second = None
    try:
        await first.publish(clip(1.0))
        await asyncio.sleep(0.8)  # no input for longer than stale_timeout
        assert runner.api.manager.list()[0]["stale"] is True
        second, ch2, status, body, _ = await open_stream(orchestrator, runner.url)
        assert (status, body) == (200, {})
        await wait_for(lambda: first.output.end_reason is not None, 5)  # its output was deleted
        ids = [s["stream_id"] for s in runner.api.manager.list()]
        assert ids == [f"stream-{ch2.mid}"] and runner.api.manager.preempted == 1
        assert runner.api.manager.history[-1]["stop_reason"].startswith("pre-empted")
        orchestrator.close_channels(ch2)
        await wait_for(lambda: idle(runner), 10)
    finally:
        await close_gateways(orchestrator, ch1, first, second)


async def test_stream_stops_after_input_timeout(make_runner: Any, orchestrator: Any) -> None:
    runner = await make_runner(input_timeout=1.0, status_interval=0.3)
    gateway, channels, _, _, _ = await open_stream(orchestrator, runner.url)
    try:
        await gateway.publish(clip(1.0))
        took = await wait_for(lambda: idle(runner), 6)
        assert 0.8 < took < 4.0
        names = orchestrator.server.channel_names()
        assert channels.mid + "-out" not in names and channels.mid + "-events" not in names
        errors = events_of(gateway, "error")
        assert any("no input" in e["message"] for e in errors)
        assert runner.api.manager.history[-1]["stop_reason"] == "no input for 1s"
    finally:
        orchestrator.close_channels(channels)
        await gateway.close()


class FlakyInvert(ThreadedProcessor):
    """Raises on every third frame."""

    name = "flaky"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def transform(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls % 3 == 0:
            raise RuntimeError("model exploded")
        return np.subtract(255, image, dtype=np.uint8)


async def test_processor_exception_is_reported_and_the_stream_goes_on(
    make_runner: Any, orchestrator: Any
) -> None:
    runner = await make_runner(lambda request: FlakyInvert())
    gateway, channels, _, _, _ = await open_stream(orchestrator, runner.url)
    try:
        await gateway.publish(clip(2.0))
        await wait_for(lambda: runner.api.manager.list()[0]["frames_out"] >= 28, 5)
        errors = events_of(gateway, "error")
        assert errors and "model exploded" in errors[0]["message"]
        assert runner.api.manager.health() == "OK"
    finally:
        await end_stream(orchestrator, channels, gateway, runner, 10)
    out = decode(gateway.output.data)
    assert -1 not in out.numbers
    assert any(out.inverted) and not all(out.inverted)  # failed frames went out unprocessed


async def test_corrupt_segment_is_reported_and_the_stream_recovers(
    make_runner: Any, orchestrator: Any
) -> None:
    runner = await make_runner("invert")
    gateway, channels, _, _, _ = await open_stream(orchestrator, runner.url)
    try:
        segments = clip(3.0)
        data, duration = segments[1]
        broken = bytearray(data)
        for offset in range(400, len(broken) - 188, 997):  # scribble over the middle
            broken[offset : offset + 40] = bytes(40)
        await gateway.publish([segments[0], (bytes(broken), duration), segments[2]])
        await wait_for(lambda: runner.api.manager.list()[0]["frames_in"] >= 31, 5)
        assert any(e["message"].startswith("input") for e in events_of(gateway, "error"))
        assert runner.api.manager.list()[0]["errors"] >= 1
    finally:
        await end_stream(orchestrator, channels, gateway, runner, 10)
    out = decode(gateway.output.data)
    assert sum(1 for n in out.numbers if n >= 30) >= 14  # the segment after the damage is whole


async def test_pack_api_lists_updates_previews_and_stops(
    make_runner: Any, orchestrator: Any, http: aiohttp.ClientSession
) -> None:
    runner = await make_runner("invert", token="tok")
    auth = {"Authorization": "Bearer tok"}
    gateway, channels, status, _, _ = await open_stream(orchestrator, runner.url, token="tok")
    try:
        assert status == 200
        await gateway.publish(clip(1.0))
        sid = f"stream-{channels.mid}"
        async with http.get(runner.url + "/trickle/streams") as resp:
            streams = (await resp.json())["streams"]
        assert [s["stream_id"] for s in streams] == [sid] and streams[0]["frames_out"] > 0
        url = f"{runner.url}/trickle/streams/{sid}"
        async with http.post(url + "/update", json={"strength": 0.5}, headers=auth) as resp:
            assert resp.status == 200 and (await resp.json())["applied"] == {"strength": 0.5}
        async with http.post(url + "/update", json={"strength": 2}, headers=auth) as resp:
            assert resp.status == 400 and (await resp.json())["detail"]["field"] == "strength"
        async with http.get(url + "/frame.jpg") as resp:
            assert resp.status == 401  # the picture is the stream's content: the token guards it
        async with http.get(url + "/frame.jpg", headers=auth) as resp:
            jpeg = await resp.read()
            assert resp.status == 200 and resp.content_type == "image/jpeg"
            assert jpeg[:2] == b"\xff\xd8" and int(resp.headers["X-Frame-Pts"]) >= 0
        async with http.get(runner.url + "/trickle/status") as resp:
            page = await resp.json()
        assert page["health"] == "OK" and page["config"]["token"] == "(set)"
        assert (
            page["last_start"]["stream_id"] == sid
            and page["streams"][0]["latency_ms"]["p50"] is not None
        )
        async with http.post(url + "/stop", headers=auth) as resp:
            assert resp.status == 200 and (await resp.json()) == {"stopped": True}
        assert runner.api.manager.health() == "IDLE"
        await wait_for(lambda: gateway.output.end_reason is not None, 5)
    finally:
        orchestrator.close_channels(channels)
        await gateway.close()
