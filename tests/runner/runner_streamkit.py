"""Helpers of the runner stream tests (imported through conftest's fixtures)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from trickle_live.trickle.media.testclip import (
    make_test_clip,
    pattern_frame,
    read_frame_number,
    split_segments,
)
from trickle_live.trickle.runner.simulator import Channels, GatewayStream, LocalOrchestrator

FPS = 15.0
SIZE = 64  # smallest picture that still carries the frame-number barcode


def clip(
    seconds: float, *, fps: float = FPS, first_index: int = 0, start_pts: int = 0
) -> list[tuple[bytes, float]]:
    """(segment, duration) pairs of a generated clip, one segment per second."""
    data = make_test_clip(
        seconds, SIZE, SIZE, fps, keyframe_seconds=1.0, first_index=first_index, start_pts=start_pts
    )
    segments = split_segments(data)
    return [(s, seconds / len(segments)) for s in segments]


@dataclass
class Decoded:
    pts: list[int]
    numbers: list[int]  # the input frame each output frame shows (from its barcode), -1 unknown
    inverted: list[bool]  # whether the picture is the inverted test picture


def decode(data: bytes, fps: float = FPS) -> Decoded:
    """Every video frame of a TS byte stream: pts (90 kHz), which input frame it shows, inverted?"""
    out = Decoded([], [], [])
    if not data:
        return out
    with av.open(io.BytesIO(bytes(data)), format="mpegts") as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            plain, flipped = read_frame_number(image), read_frame_number(255 - image)
            expected = round(int(frame.pts) * fps / 90_000)
            out.pts.append(int(frame.pts))
            out.inverted.append(flipped == expected and plain != expected)
            out.numbers.append(expected if expected in (plain, flipped) else -1)
            if expected in (plain, flipped):
                reference = pattern_frame(expected, SIZE, SIZE).astype(np.float32)
                if out.inverted[-1]:
                    reference = 255 - reference
                error = float(np.mean(np.abs(image.astype(np.float32) - reference)))
                if error > 20:  # the barcode matched by chance; the picture is something else
                    out.numbers[-1] = -1
    return out


async def wait_for(predicate: Callable[[], Any], timeout: float, step: float = 0.05) -> float:
    """Seconds until ``predicate()`` is true; AssertionError after ``timeout``."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)
    return time.monotonic() - began


async def open_stream(
    orch: LocalOrchestrator,
    runner_url: str,
    params: dict[str, Any] | None = None,
    *,
    token: str = "",
    keepalive: float = 10.0,
    stream_id: str = "",
) -> tuple[GatewayStream, Channels, int, Any, float]:
    """Create the channels, start the gateway's readers, send the start request."""
    channels = orch.create_channels()
    gateway = GatewayStream(channels, keepalive_interval=keepalive)
    gateway.start_readers()
    status, body, elapsed = await orch.start_stream(
        runner_url, channels, params, token=token, stream_id=stream_id
    )
    return gateway, channels, status, body, elapsed


def idle(runner: Any) -> bool:
    """No stream left, not even one still shutting down; /health says IDLE."""
    manager = runner.api.manager
    return manager.health() == "IDLE" and not manager.list()


async def end_stream(
    orch: LocalOrchestrator,
    channels: Channels,
    gateway: GatewayStream,
    runner: Any,
    timeout: float,
) -> None:
    """Close the stream's channels, wait (up to ``timeout``) for the runner to be idle, then
    close the gateway (in that order, also when the wait fails)."""
    orch.close_channels(channels)
    try:
        await wait_for(lambda: idle(runner), timeout)
    finally:
        await gateway.close()


async def finish_input(
    gateway: GatewayStream, runner: Any, idle_timeout: float = 20, output_timeout: float = 10
) -> None:
    """End the gateway's input, then wait until the runner is idle and the output has ended (the
    ending a real gateway sees when its source stops)."""
    await gateway.end_input()
    await wait_for(lambda: idle(runner), idle_timeout)
    await wait_for(lambda: gateway.output.end_reason is not None, output_timeout)


async def close_gateways(
    orch: LocalOrchestrator, channels: Channels, *gateways: GatewayStream | None
) -> None:
    """Close ``channels`` at the orchestrator, then each gateway that was opened (not None)."""
    orch.close_channels(channels)
    for gateway in gateways:
        if gateway is not None:
            await gateway.close()


def events_of(gateway: GatewayStream, kind: str) -> list[dict[str, Any]]:
    return [e["event"] for _, e in gateway.events if e.get("event", {}).get("type") == kind]
