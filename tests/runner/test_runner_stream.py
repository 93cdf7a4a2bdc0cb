"""A whole stream through the standalone runner, the in-process trickle server playing the
orchestrator and a test gateway (docs/runner.md, Tests)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from runner_streamkit import (
    clip,
    decode,
    end_stream,
    events_of,
    finish_input,
    idle,
    open_stream,
    wait_for,
)


async def test_happy_path_invert_update_keepalive_and_stop_by_input_deletion(
    make_runner: Any, orchestrator: Any, http: aiohttp.ClientSession
) -> None:
    runner = await make_runner("invert", status_interval=0.5)
    gateway, channels, status, body, elapsed = await open_stream(
        orchestrator, runner.url, keepalive=0.3
    )
    try:
        assert (status, body) == (200, {})
        assert elapsed < 0.5, f"start took {elapsed:.3f}s"
        segments = clip(4.0)
        await gateway.publish(segments[:2])
        await wait_for(lambda: gateway.output.segments >= 1, 10)
        await gateway.send_control({"strength": 0.0})  # from now on: no inversion
        await wait_for(lambda: runner.api.manager.list()[0]["frames_in"] >= 29, 5)
        await gateway.publish(segments[2:])
        await gateway.end_input()  # the gateway's ingest ends: DELETE the input channel
        await wait_for(lambda: idle(runner), 10)
        names = orchestrator.server.channel_names()
        assert channels.mid + "-out" not in names and channels.mid + "-events" not in names
        assert channels.mid + "-control" in names  # not ours to delete
        await wait_for(lambda: gateway.output.end_reason is not None, 5)
    finally:
        await gateway.close()

    out = decode(gateway.output.data)
    assert len(out.pts) >= 57, f"{len(out.pts)} of 60 frames came out"
    assert out.pts == sorted(set(out.pts)) and -1 not in out.numbers  # pts = input pts, each frame
    assert all(out.inverted[:25]) and not any(out.inverted[-25:])
    snap = runner.api.manager.history[-1]
    assert snap["frames_in"] == 60 and snap["frames_out"] == len(out.pts)

    kinds = gateway.event_types()
    traces = [
        e["event"]["type"] for _, e in gateway.events if e["queue_event_type"] == "stream_trace"
    ]
    assert traces[:1] == ["runner_receive_stream_request"]
    assert "runner_receive_first_ingest_segment" in traces
    assert "runner_send_first_processed_segment" in traces
    statuses = events_of(gateway, "status")
    assert len(statuses) >= 3 and "error" not in kinds  # keepalives were ignored, not errors
    last = statuses[-1]
    assert last["state"] == "OFFLINE" and last["stop_reason"].startswith("input ended")
    assert {"input_status", "inference_status", "start_time", "pipeline"} <= set(last)
    assert statuses[0]["inference_status"]["last_params"] == {}  # sent once, then null
    assert any(s["inference_status"]["last_params"] == {"strength": 0.0} for s in statuses[1:])
    assert all(e.get("queue_event_type") for _, e in gateway.events)


async def test_status_events_start_at_once_and_repeat(make_runner: Any, orchestrator: Any) -> None:
    runner = await make_runner(status_interval=0.4)
    gateway, channels, status, _, _ = await open_stream(orchestrator, runner.url)
    try:
        assert status == 200
        await wait_for(lambda: len(events_of(gateway, "status")) >= 1, 3)
        first_at = gateway.events[0][0] - gateway.started
        await wait_for(lambda: len(events_of(gateway, "status")) >= 4, 5)
        times = [t for t, e in gateway.events if e["event"]["type"] == "status"]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert first_at < 2.0 and max(gaps) < 1.0
        assert events_of(gateway, "status")[0]["state"] in ("LOADING", "DEGRADED_INPUT")
    finally:
        await end_stream(orchestrator, channels, gateway, runner, 10)


async def test_output_starts_while_the_processor_loads(make_runner: Any, orchestrator: Any) -> None:
    runner = await make_runner("invert")
    gateway, channels, status, _, _ = await open_stream(
        orchestrator, runner.url, {"load_seconds": 30}
    )
    try:
        assert status == 200
        assert runner.api.manager.health() == "LOADING"
        publishing = gateway.publish(clip(3.0))
        import asyncio

        task = asyncio.create_task(publishing)
        took = await wait_for(lambda: gateway.output.first_at is not None, 5)
        assert took < 2.0, f"first output after {took:.2f}s"
        await task
        snap = runner.api.manager.list()[0]
        assert snap["processor"] == "LOADING" and snap["frames_passthrough"] > 0
    finally:
        await end_stream(orchestrator, channels, gateway, runner, 10)
    out = decode(gateway.output.data)
    assert out.numbers and -1 not in out.numbers and not any(out.inverted)  # the input itself


@pytest.mark.parametrize("update", [{"strength": "high"}, {"strength": 7}, {"delay_ms": -1}])
async def test_invalid_update_becomes_an_error_event_and_the_stream_goes_on(
    make_runner: Any, orchestrator: Any, update: dict[str, Any]
) -> None:
    runner = await make_runner("invert")
    gateway, channels, _, _, _ = await open_stream(orchestrator, runner.url)
    try:
        await gateway.publish(clip(1.0))
        await gateway.send_control(update)
        await wait_for(lambda: events_of(gateway, "error"), 5)
        error = events_of(gateway, "error")[0]
        field = next(iter(update))
        assert error["field"] == field and error["received"] == update[field]
        assert "expected" in error and field in error["message"]
        await gateway.publish(clip(1.0, first_index=15, start_pts=90_000))
        await wait_for(lambda: runner.api.manager.list()[0]["frames_in"] >= 28, 5)
        assert runner.api.manager.health() == "OK"
    finally:
        await end_stream(orchestrator, channels, gateway, runner, 10)


async def test_frames_the_encoder_drops_are_drops_not_frames_out(
    make_runner: Any, orchestrator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encoder slower than the input drops frames that waited too long in its queue: the
    status counts them in ``drops``, and ``frames_out`` is what was published."""
    import time

    from trickle_live.trickle.media.encoder import StreamEncoder

    write = StreamEncoder._write_video

    def slow(self: Any, writer: Any, frame: Any) -> None:
        time.sleep(0.15)  # over the 0.1 s a frame may wait before the encoder
        write(self, writer, frame)

    monkeypatch.setattr(StreamEncoder, "_write_video", slow)
    runner = await make_runner()
    gateway, _, status, body, _ = await open_stream(orchestrator, runner.url)
    try:
        assert status == 200, body
        await gateway.publish(clip(2.0))
        await wait_for(lambda: runner.api.manager.list()[0]["frames_in"] >= 30, 10)
        await finish_input(gateway, runner)
    finally:
        await gateway.close()
    published = len(decode(gateway.output.data).pts)
    snap = runner.api.manager.history[-1]
    assert snap["drops"] > 0, snap  # the slow encoder did drop frames
    assert snap["frames_out"] == published, (snap, published)
    assert snap["frames_out"] + snap["drops"] >= snap["frames_in"], snap


async def test_frames_out_and_drops_add_up_to_frames_in_across_the_load(
    make_runner: Any, orchestrator: Any
) -> None:
    """While the processor loads, each frame goes out unprocessed and also waits for it; the
    ones the queue then drops, or that come out of the processor behind newer ones, went out
    already: ``superseded``, not ``drops``. Every input frame is either out or dropped, once."""
    runner = await make_runner("invert")
    gateway, _, status, body, _ = await open_stream(orchestrator, runner.url, {"load_seconds": 1})
    try:
        assert status == 200, body
        await gateway.publish(clip(3.0))
        await wait_for(lambda: runner.api.manager.list()[0]["frames_in"] >= 45, 10)
        await finish_input(gateway, runner)
    finally:
        await gateway.close()
    out = decode(gateway.output.data)
    snap = runner.api.manager.history[-1]
    assert snap["frames_passthrough"] > 0 and any(out.inverted), snap  # loaded mid-stream
    assert snap["superseded"] > 0, snap
    assert snap["frames_out"] == len(out.pts), (snap, len(out.pts))
    assert snap["frames_out"] + snap["drops"] == snap["frames_in"] == 45, snap
