"""One measured stream through a system under test, driven as an orchestrator and gateway do:
create the four channels on our loopback trickle server, ``POST /live-video-to-video``, publish
the clip on the input channel (warm-up paced, then paced or as fast as possible), read the output
channel, then end the input (DELETE) and wait for the system to go back to idle."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from _feed import (
    ClipLayout,
    FeedGate,
    FeedLog,
    OutputLog,
    latency_ms,
    measured,
    output_frames,
    pct,
    publish,
    record,
    throughput,
)
from _proc import ProcSampler
from _systems import ComfySystem, System

from trickle.runner.simulator import LocalOrchestrator

CLIP_START_PTS = 90_000  # make_test_clip's default start_pts
SETTLE_S = 3.0  # no new output for this long after the input ended: the system is done


async def _watch_stats(
    system: System, http: aiohttp.ClientSession, into: dict[str, Any], every: float = 0.25
) -> None:
    """The stream's own counters (trickle-live's status API), the last seen while it ran: tells
    where frames went (decoded, dropped from the input queue, out of order, published). Systems
    without that API leave ``into`` empty."""
    keys = ("frames_in", "frames_out", "drops", "out_of_order", "passthrough", "fps_capped")
    while True:
        try:
            async with http.get(system.url + "/trickle/status") as resp:
                if resp.status == 404:
                    return
                body = await resp.json()
            for stream in body.get("streams") or []:
                into.update({k: stream[k] for k in keys if k in stream})
            private = (body.get("comfyui") or {}).get("private_executor") or {}
            if private.get("cpu_ms_per_frame") is not None:
                into["worker_cpu_ms_per_frame"] = private["cpu_ms_per_frame"]
        except (aiohttp.ClientError, ValueError):
            pass
        await asyncio.sleep(every)


async def run_stream(
    system: System,
    orch: LocalOrchestrator,
    http: aiohttp.ClientSession,
    layout: ClipLayout,
    fps: float,
    *,
    warm_frames: int,
    fast: bool,
    editor: bool = False,
    profile: Path | None = None,
    lead: int = 10,
) -> dict[str, Any]:
    channels = orch.create_channels()
    log_mark = system.log_size()
    out, stop = OutputLog(), asyncio.Event()
    recorder = asyncio.create_task(record(channels.output, out, stop), name="output recorder")
    sampler = ProcSampler(system.pid)
    sampler.start()
    ws_counts: Counter[str] = Counter()
    ws_since = time.monotonic()
    ws_task = asyncio.create_task(_editor_tab(system, http, ws_counts)) if editor else None
    try:
        status, body, took = await orch.start_stream(
            system.url, channels, params=dict(system.start_params) or None
        )
        if status != 200:
            raise RuntimeError(f"{system.name}: start answered {status} {body}")
        feed = FeedLog()
        spy = _profiler(system.pid, profile) if profile is not None else None
        states = asyncio.create_task(_states_at_measure(system, http, feed))
        stream_stats: dict[str, Any] = {}
        watcher = asyncio.create_task(_watch_stats(system, http, stream_stats))
        gate = FeedGate(out, fps, CLIP_START_PTS, lead) if fast else None
        await publish(
            channels.input, layout, fps, warm_frames=warm_frames, fast=fast, log=feed, gate=gate
        )
        await _settle(out)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            await asyncio.to_thread(spy.wait, 60)
        watcher.cancel()
    finally:
        stop.set()
        orch.close_channels(channels)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(recorder, 10)
        recorder.cancel()
        if ws_task is not None:
            ws_task.cancel()
        await sampler.stop()
    frames = output_frames(out)
    times = measured(feed, frames)
    expected = layout.frames - warm_frames
    started = feed.measure_started or 0.0
    last = max(times, default=started)
    result: dict[str, Any] = {
        "start_reply_ms": took * 1e3,
        "frames_in": expected,
        "stream": stream_stats,
        "frames_out": len(times),
        "dropped": expected - len(times),
        "cpu_ms_per_frame": sampler.cpu_between(started, last) * 1e3 / max(1, len(times)),
        "peak_rss_mb": sampler.peak_mb(),
        "rss_growth_mb": _growth(sampler, started),
        "seconds": last - started,
        "processor_at_measure": await states,
        "log_errors": system.log_errors(log_mark),  # a system failing frames must not pass for fast
    }
    if fast:
        result["fps"] = throughput(feed, frames)
        result.update(lead=lead, gate_stalls=gate.stalls if gate is not None else 0)
    else:
        lat = latency_ms(feed, frames, warm_frames, layout.frames)
        result.update(latency_ms_p50=pct(lat, 0.5), latency_ms_p95=pct(lat, 0.95))
        result.update(latency_ms_p99=pct(lat, 0.99), latency_ms_max=max(lat, default=float("nan")))
        result["latency_samples"] = lat
    if editor:
        span = max(1e-9, last - ws_since)
        result["editor_ws"] = {k: round(v / span, 2) for k, v in sorted(ws_counts.items())}
        result["editor_ws_total"] = dict(ws_counts)
        result["editor_ws_seconds"] = round(span, 1)
    await _wait_idle(system, http)
    return result


def _profiler(pid: int, path: Path) -> subprocess.Popen[bytes]:
    """py-spy (same venv as this program) sampling the system's threads into collapsed stacks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    cmd = [str(spy), "record", "-p", str(pid), "-r", "250", "--threads", "--nonblocking",
           "-f", "raw", "-o", str(path)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _growth(sampler: ProcSampler, started: float) -> float:
    skip = max(0.0, started - sampler.samples[0][0]) if sampler.samples else 0.0
    return sampler.growth_mb(skip)


async def _settle(out: OutputLog) -> None:
    """Wait until the output has been quiet for SETTLE_S (bounded)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        last = out.times[-1] if out.times else 0.0
        if time.monotonic() - last > SETTLE_S:
            return
        await asyncio.sleep(0.25)


async def _states_at_measure(system: System, http: aiohttp.ClientSession, feed: FeedLog) -> str:
    """The processor state when the measured part begins (READY expected: warm-up done)."""
    while feed.measure_started is None:
        await asyncio.sleep(0.05)
    if not isinstance(system, ComfySystem):
        return "n/a"
    try:
        return ",".join(await system.processor_states(http))
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return f"unknown ({exc})"


async def _editor_tab(system: System, http: aiohttp.ClientSession, counts: Counter[str]) -> None:
    """What an open ComfyUI editor tab receives on its websocket during the stream."""
    ws_url = system.url.replace("http://", "ws://") + "/ws?clientId=bench-editor-tab"
    async with http.ws_connect(ws_url) as ws:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                counts[str(json.loads(msg.data).get("type", "?"))] += 1
            elif msg.type == aiohttp.WSMsgType.BINARY:
                counts["binary"] += 1
            counts["bytes"] += len(msg.data)


async def _wait_idle(system: System, http: aiohttp.ClientSession, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await system.health(http) == "IDLE":
            return
        await asyncio.sleep(0.25)
    with contextlib.suppress(aiohttp.ClientError, OSError):
        async with http.post(system.url + "/stream/stop", json={}) as resp:
            await resp.read()
