"""Issue #15: no silent failure. A pipeline thread that fails (decoder, worker, encoder, publisher)
becomes an ``error`` event naming it, a stream stop with ``failure``, ``last_error`` in the status
and ``ERROR`` in /health until the next stream starts; frames an encoder took and never encoded are
not counted as out. Video in another codec than H.264 is an ``error`` event naming the codec, and
a malformed control message (not JSON, bad UTF-8, too big) an ``error`` event too."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from runner_streamkit import clip, end_stream, events_of, idle, open_stream, wait_for
from trickle_live.trickle.media import decoder as decoder_module
from trickle_live.trickle.media import encoder as encoder_module
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.session import manager as manager_module
from trickle_live.trickle.session import output as output_module
from trickle_live.trickle.session.processors import PassthroughProcessor

OLD_PYAV = "'av.container.output.OutputContainer' object has no attribute 'add_mux_stream'"


def break_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The encoder's TS writer cannot be made (what a PyAV without add_mux_stream does)."""

    def writer(*args: Any, **kwargs: Any) -> Any:
        raise AttributeError(OLD_PYAV)

    monkeypatch.setattr(encoder_module, "TsWriter", writer)


def break_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    def run_container(self: Any) -> None:
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(decoder_module.StreamDecoder, "_run_container", run_container)


def break_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(TricklePublisher):
        async def next_segment(self) -> Any:
            raise RuntimeError("publisher bug")

    monkeypatch.setattr(output_module, "TricklePublisher", Broken)


class BrokenWorker(PassthroughProcessor):
    """A worker loop with a bug outside the per-frame guard: the worker thread dies."""

    def _process(self, io: Any, frame: Any) -> Any:
        raise RuntimeError("worker bug")


FAULTS: dict[str, tuple[Callable[[pytest.MonkeyPatch], None] | None, str]] = {
    "encoder": (break_encoder, "add_mux_stream"),
    "decoder": (break_decoder, "decoder bug"),
    "publisher": (break_publisher, "publisher bug"),
    "worker": (None, "worker bug"),
}


async def json_get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        return await resp.json()


async def publish_until_ended(gateway: Any, manager: Any) -> None:
    """Publish a 1 s clip at once; wait (5 s) until the stream, failing on it, has ended."""
    await gateway.publish(clip(1.0), realtime=False)
    await wait_for(lambda: manager.list() == [] and manager.history, 5)


@pytest.mark.parametrize("source", list(FAULTS))
async def test_a_failed_pipeline_thread_is_told_and_stops_the_stream(
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    make_runner: Any,
    orchestrator: Any,
    http: aiohttp.ClientSession,
) -> None:
    breaker, words = FAULTS[source]
    if breaker is not None:
        breaker(monkeypatch)
    made: list[Any] = []

    def processors(request: Any) -> Any:  # the first stream's worker is the broken one
        made.append(BrokenWorker() if source == "worker" and not made else PassthroughProcessor())
        return made[-1]

    runner = await make_runner(processors)
    manager = runner.api.manager
    gateway, channels, status, _, _ = await open_stream(orchestrator, runner.url)
    try:
        assert status == 200
        await publish_until_ended(gateway, manager)
        ended = manager.history[-1]
        assert words in ended["failure"], ended
        assert ended["stop_reason"].startswith(f"failed: {source} stopped"), ended
        await wait_for(lambda: events_of(gateway, "error"), 5)
        errors = [e for e in events_of(gateway, "error") if e["source"] == source]
        assert errors and words in errors[0]["message"], events_of(gateway, "error")
        if source == "encoder":  # it never encoded a frame: none is counted as out
            assert ended["frames_out"] == 0 and ended["frames_in"] > 0, ended
        assert (await json_get(http, f"{runner.url}/health"))["status"] == "ERROR"
        assert words in (await json_get(http, f"{runner.url}/trickle/status"))["last_error"]
        # ERROR until the next stream starts
        monkeypatch.undo()
        second, channels2, status, _, _ = await open_stream(orchestrator, runner.url)
        assert status == 200
        assert (await json_get(http, f"{runner.url}/health"))["status"] != "ERROR"
        orchestrator.close_channels(channels2)
        await wait_for(lambda: idle(runner), 5)
        await second.close()
    finally:
        orchestrator.close_channels(channels)
        await gateway.close()


def foreign_clip(codec: str, frames: int = 15) -> bytes:
    """An MPEG-TS stream whose video is ``codec`` (mpeg2video, hevc), made with PyAV."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mpegts") as container:
        stream = container.add_stream(codec, rate=15)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            image = np.full((64, 64, 3), i * 10, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize("codec", ["mpeg2video", "hevc"])
async def test_video_that_is_not_h264_is_an_error_event_naming_the_codec(
    codec: str, make_runner: Any, orchestrator: Any
) -> None:
    runner = await make_runner()
    gateway, channels, status, _, _ = await open_stream(orchestrator, runner.url)
    try:
        assert status == 200
        data = foreign_clip(codec)
        await gateway.publish([(data, 1.0), (data, 1.0)], realtime=False)
        await wait_for(lambda: events_of(gateway, "error"), 5)
        errors = events_of(gateway, "error")
        assert len(errors) == 1 and errors[0]["source"] == "decoder", errors  # once per codec
        assert f"unsupported input video codec '{codec}'" in errors[0]["message"]
        snapshot = runner.api.manager.list()[0]
        assert snapshot["frames_in"] == 0 and codec in snapshot["last_error"]
    finally:
        await end_stream(orchestrator, channels, gateway, runner, 5)


async def test_malformed_control_messages_are_error_events(
    make_runner: Any, orchestrator: Any
) -> None:
    runner = await make_runner("invert")
    gateway, channels, status, _, _ = await open_stream(orchestrator, runner.url)
    bad = {
        "not JSON": b"strength=0.5",
        "bad UTF-8": b'{"strength": "\xff\xfe"}',
        "too big": b'{"pad": "' + b"x" * (1 << 20) + b'"}',
        "not an object": b"[1, 2]",
    }
    try:
        assert status == 200
        await wait_for(lambda: events_of(gateway, "status"), 5)  # the control reader is up
        for payload in bad.values():
            await gateway.control.write_segment(payload)
        await gateway.send_control({"strength": 0.5})  # a good one after them still applies
        await wait_for(lambda: len(events_of(gateway, "error")) >= len(bad), 5)
        errors = events_of(gateway, "error")
        assert [e["source"] for e in errors] == ["control"] * len(bad), errors
        messages = [e["message"] for e in errors]
        assert all(m.startswith("control message skipped: ") for m in messages), messages
        assert "not JSON" in messages[0] and "not JSON" in messages[1]  # bad UTF-8 is not JSON
        assert "at most 1048576 bytes" in messages[2] and "JSON object" in messages[3]
        await wait_for(lambda: runner.api.manager.active()[0].processor.strength == 0.5, 5)
    finally:
        await end_stream(orchestrator, channels, gateway, runner, 5)


async def test_error_after_a_failure_ends_by_itself_when_no_stream_comes(
    monkeypatch: pytest.MonkeyPatch, make_runner: Any, orchestrator: Any
) -> None:
    """An orchestrator starting while /health says ERROR aborts the node: the ERROR a failed
    stream leaves lasts until the next start, at most ``FAILURE_HOLD_S``; ``last_error`` stays."""
    monkeypatch.setattr(manager_module, "FAILURE_HOLD_S", 0.5)
    break_encoder(monkeypatch)
    runner = await make_runner()
    manager = runner.api.manager
    gateway, channels, status, _, _ = await open_stream(orchestrator, runner.url)
    try:
        assert status == 200
        await publish_until_ended(gateway, manager)
        assert manager.health() == "ERROR"
        await wait_for(lambda: manager.health() == "IDLE", 2)
        assert "add_mux_stream" in manager.last_error
    finally:
        orchestrator.close_channels(channels)
        await gateway.close()
