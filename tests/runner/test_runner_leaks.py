"""100 start/stop cycles leave no thread, task, socket or file descriptor behind (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from typing import Any

import aiohttp
from runner_streamkit import clip, idle, wait_for
from trickle_live.trickle.runner.simulator import GatewayStream

CYCLES = 100


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def stream_threads() -> list[str]:
    """Threads a stream owns (decoder, encoder, processor); executor workers are pooled."""
    return [t.name for t in threading.enumerate() if not t.name.startswith(("asyncio_", "Main"))]


def own_tasks() -> list[str]:
    """Tasks a stream owns (named after their stream) that are still there."""
    prefixes = ("stream ", "events ", "input ", "control ", "watchdog ", "publish ", "stop ")
    return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith(prefixes)]


def other_tasks() -> list[asyncio.Task[object]]:
    """Every other task but aiohttp's per-connection server tasks: a server answering before a
    request body ended (a preconnected POST to a deleted channel) lingers up to 10 s reading it."""
    return [t for t in asyncio.all_tasks() if "RequestHandler.start" not in repr(t.get_coro())]


async def one_cycle(
    i: int, runner: Any, orchestrator: Any, http: aiohttp.ClientSession, segment: bytes
) -> float:
    channels = orchestrator.create_channels()
    status, body, took = await orchestrator.start_stream(runner.url, channels, {"strength": 0.5})
    assert (status, body) == (200, {}), body
    if i % 10 == 0:  # now and then a real segment, so decoder, encoder and publisher all run
        gateway = GatewayStream(channels)
        await gateway.input.write_segment(segment)
        await wait_for(lambda: runner.api.manager.list()[0]["frames_out"] > 0, 5)
        await gateway.close()
    if i % 2 == 0:
        async with http.post(f"{runner.url}/trickle/streams/stream-{channels.mid}/stop") as resp:
            assert resp.status == 200 and (await resp.json())["stopped"] is True
    else:  # the orchestrator closes every channel, as when the input ends
        orchestrator.close_channels(channels)
        await wait_for(lambda: idle(runner), 5, step=0.01)
    orchestrator.close_channels(channels)
    return took


async def test_start_stop_cycles_do_not_leak(make_runner: Any, orchestrator: Any) -> None:
    runner = await make_runner("invert", status_interval=0.2)
    segment = clip(1.0)[0][0]
    async with aiohttp.ClientSession() as http:
        await one_cycle(0, runner, orchestrator, http, segment)  # warm up pools and imports
        await asyncio.sleep(0.2)
        gc.collect()
        threads, tasks, fds = stream_threads(), len(other_tasks()), open_fds()
        took = [
            await one_cycle(i, runner, orchestrator, http, segment) for i in range(1, CYCLES + 1)
        ]
        assert idle(runner) and runner.api.manager.started == CYCLES + 1
        assert sorted(took)[CYCLES // 2] < 0.1, (
            f"median start reply {sorted(took)[CYCLES // 2]:.3f}s"
        )
        await asyncio.sleep(1.0)
        gc.collect()
        assert stream_threads() == threads
        assert own_tasks() == [] and len(other_tasks()) <= tasks
        assert open_fds() <= fds + 4, f"{fds} fds before, {open_fds()} after"
