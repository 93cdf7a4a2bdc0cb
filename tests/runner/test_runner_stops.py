"""Issue #4 clauses the other runner tests left open: an input stall is an ``error`` event while
the stream goes on; a 404 input stops the stream (output and events DELETEd, IDLE); a stream whose
control channel ended is stale and a new start pre-empts it."""

from __future__ import annotations

import asyncio
from typing import Any

from runner_streamkit import (
    clip,
    close_gateways,
    end_stream,
    events_of,
    idle,
    open_stream,
    wait_for,
)
from trickle_live.trickle.runner.simulator import GatewayStream


async def test_input_stall_is_an_error_event_and_the_stream_goes_on(
    make_runner: Any, orchestrator: Any
) -> None:
    runner = await make_runner("invert", input_timeout=4.0)  # stall reported after 2 s
    gateway, channels, status, _, _ = await open_stream(orchestrator, runner.url)
    try:
        assert status == 200
        await gateway.publish(clip(1.0))
        await wait_for(lambda: events_of(gateway, "error"), 4)
        stall = events_of(gateway, "error")[0]
        assert stall["message"].startswith("input stalled") and stall["source"] == "input"
        assert runner.api.manager.list()[0]["frames_in"] == 15  # still running
        await gateway.publish(clip(1.0, first_index=15, start_pts=90_000))
        await wait_for(lambda: runner.api.manager.list()[0]["frames_out"] >= 28, 5)
        assert runner.api.manager.health() == "OK"
        infos = [e["message"] for e in events_of(gateway, "info")]
        assert "input resumed" in infos
        assert len(events_of(gateway, "error")) == 1  # one stall, one event
    finally:
        await end_stream(orchestrator, channels, gateway, runner, 10)


async def test_input_channel_404_stops_the_stream_and_deletes_ours(
    make_runner: Any, orchestrator: Any
) -> None:
    runner = await make_runner()
    channels = orchestrator.create_channels()
    orchestrator.server.delete_channel(channels.mid)  # the input is gone before we subscribe
    gateway = GatewayStream(channels)
    gateway.start_readers(keepalives=False)
    try:
        status, body, _ = await orchestrator.start_stream(runner.url, channels)
        assert (status, body) == (200, {})
        await wait_for(lambda: idle(runner), 5)
        assert runner.api.manager.history[-1]["stop_reason"] == "input ended (channel closed)"
        names = orchestrator.server.channel_names()
        assert channels.mid + "-out" not in names and channels.mid + "-events" not in names
        await wait_for(lambda: gateway.output.end_reason is not None, 5)
        statuses = events_of(gateway, "status")
        assert statuses and statuses[-1]["state"] == "OFFLINE"
    finally:
        orchestrator.close_channels(channels)
        await gateway.close()


async def test_stream_whose_control_channel_ended_is_preempted(
    make_runner: Any, orchestrator: Any
) -> None:
    runner = await make_runner(stale_timeout=30)  # input never goes stale in this test
    first, ch1, status, _, _ = await open_stream(orchestrator, runner.url)
    second = None
    try:
        assert status == 200
        feeding = asyncio.create_task(first.publish(clip(3.0)))
        await wait_for(lambda: runner.api.manager.list()[0]["frames_in"] > 0, 5)
        assert runner.api.manager.list()[0]["stale"] is False
        orchestrator.server.delete_channel(ch1.mid + "-control")  # the gateway swapped away
        await wait_for(lambda: runner.api.manager.list()[0]["stale"], 5)
        second, ch2, status, body, _ = await open_stream(orchestrator, runner.url)
        assert (status, body) == (200, {})
        await wait_for(lambda: first.output.end_reason is not None, 5)  # its output was deleted

        def listed() -> list[str]:
            return [s["stream_id"] for s in runner.api.manager.list()]

        # the pre-empted stream leaves the list when its stop has finished (after its output's
        # DELETE, on a busy box not at once)
        await wait_for(lambda: listed() == [f"stream-{ch2.mid}"], 5)
        assert runner.api.manager.preempted == 1
        assert runner.api.manager.history[-1]["stop_reason"].startswith("pre-empted")
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)
        orchestrator.close_channels(ch2)
        await wait_for(lambda: idle(runner), 10)
    finally:
        await close_gateways(orchestrator, ch1, first, second)
