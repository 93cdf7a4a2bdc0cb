"""Helpers of the compatibility tests: run one stream through a runner and read what came out."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import av
from runner_streamkit import clip, idle, open_stream, wait_for


@dataclass
class Outcome:
    sizes: list[tuple[int, int]]  # (width, height) of each output frame
    pts: list[int]
    events: list[dict[str, Any]]  # the inner event objects, in order
    snapshot: dict[str, Any]  # the stream's status entry at its end


def frames_of(data: bytes) -> tuple[list[tuple[int, int]], list[int]]:
    sizes, pts = [], []
    if data:
        with av.open(io.BytesIO(bytes(data)), format="mpegts") as container:
            for frame in container.decode(video=0):
                sizes.append((frame.width, frame.height))
                pts.append(int(frame.pts))
    return sizes, pts


async def stream_through(
    runner: Any,
    orchestrator: Any,
    params: dict[str, Any] | None,
    seconds: float = 2.0,
    *,
    model_id: str = "comfystream",
) -> Outcome:
    """Start a stream with ``params``, publish a generated clip, end the input, collect."""
    channels = orchestrator.create_channels()
    from trickle_live.trickle.runner.simulator import GatewayStream

    gateway = GatewayStream(channels)
    gateway.start_readers()
    try:
        status, body, _ = await orchestrator.start_stream(
            runner.url, channels, params, model_id=model_id
        )
        assert status == 200, body
        await gateway.publish(clip(seconds))
        await wait_for(lambda: bool(runner.api.manager.list()), 5)
        await gateway.end_input()
        await wait_for(lambda: idle(runner), 15)
        await wait_for(lambda: gateway.output.end_reason is not None, 5)
    finally:
        await gateway.close()
    sizes, pts = frames_of(bytes(gateway.output.data))
    events = [e.get("event", {}) for _, e in gateway.events]
    return Outcome(sizes, pts, events, runner.api.manager.history[-1])


async def post(
    http: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.post(url, json=body, headers=headers or {}) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


async def get(http: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, Any]:
    async with http.get(url, **kw) as resp:
        return resp.status, json.loads(await resp.text())


__all__ = ["Outcome", "asyncio", "frames_of", "get", "open_stream", "post", "stream_through"]
