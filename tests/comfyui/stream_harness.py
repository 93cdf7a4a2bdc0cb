"""Driving a live stream through a real ComfyUI as an orchestrator and a gateway do (shared by
the tests in this folder).

The in-process trickle server plays the orchestrator (channels, the start request) and a gateway
publishes a generated clip in real time whose frames carry their number as a barcode, so each
output frame can be traced to its input frame (pts kept exactly; inverted or not).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from trickle_live.trickle.media.testclip import iter_segments, read_frame_number
from trickle_live.trickle.runner.simulator import Channels, GatewayStream, LocalOrchestrator
from trickle_live.trickle.session.workflow_spec import BUNDLED_DIR

ROOT = Path(__file__).resolve().parents[2]
FPS, SIZE, START_PTS = 30, 128, 90_000
During = Callable[[GatewayStream, str], Awaitable[Any]]


def failing_blur(size: int) -> dict[str, Any]:
    """TrickleInput → 16×16 → ImageBlur(live ``radius``, 2) → ``size``² → TrickleOutput. It
    validates for every radius 1..31, but a radius ≥ 16 fails at run time (reflect padding wider
    than the picture): a workflow error that a parameter update causes and another one cures."""
    scale = {"upscale_method": "nearest-exact", "crop": "disabled"}
    return {
        "1": {"class_type": "TrickleInput", "inputs": {"test_width": size, "test_height": size}},
        "2": {"class_type": "TrickleParamInt",
              "inputs": {"name": "radius", "value": 2, "min": 1, "max": 31}},
        "3": {"class_type": "ImageScale",
              "inputs": {"image": ["1", 0], "width": 16, "height": 16, **scale}},
        "4": {"class_type": "ImageBlur",
              "inputs": {"image": ["3", 0], "blur_radius": ["2", 0], "sigma": 1.0}},
        "5": {"class_type": "ImageScale",
              "inputs": {"image": ["4", 0], "width": size, "height": size, **scale}},
        "6": {"class_type": "TrickleOutput", "inputs": {"images": ["5", 0]}},
    }  # fmt: skip


def workflow(name: str) -> dict[str, Any]:
    return json.loads((BUNDLED_DIR / f"{name}.api.json").read_text())


@dataclass
class Output:
    frames: list[tuple[int, int, bool]]  # (pts, frame number, inverted)
    events: list[dict[str, Any]]
    status: dict[str, Any]
    data: bytes = b""  # the output stream as published (MPEG-TS)


def decode(data: bytes) -> list[tuple[int, int, bool]]:
    frames = []
    with av.open(io.BytesIO(data), format="mpegts") as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            pts = int(frame.pts)
            plain = read_frame_number(image)
            inverted = read_frame_number(255 - image)
            expected = (pts - START_PTS) // 3000
            frames.append((pts, expected, inverted == expected and plain != expected))
    return frames


async def get_json(url: str) -> Any:
    def fetch() -> Any:
        import urllib.request

        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())

    return await asyncio.to_thread(fetch)


async def wait_idle(url: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    health = ""
    while time.monotonic() < deadline:
        health = (await get_json(url + "/health"))["status"]
        if health == "IDLE":
            return health
        await asyncio.sleep(0.2)
    return health


async def local_gateway() -> tuple[LocalOrchestrator, Channels, GatewayStream]:
    """A started loopback orchestrator, a new set of its channels, a gateway reading them."""
    orch = LocalOrchestrator()
    await orch.start()
    channels = orch.create_channels()
    gateway = GatewayStream(channels)
    gateway.start_readers()
    return orch, channels, gateway


async def run_stream(
    url: str,
    params: dict[str, Any],
    seconds: int,
    during: During | None = None,
) -> Output:
    orch, channels, gateway = await local_gateway()
    stream_id = f"stream-{channels.mid}"
    try:
        status, body, took = await orch.start_stream(url, channels, params, stream_id=stream_id)
        assert status == 200 and took < 1.0, (status, body, took)
        segments = [(s, 1.0) for s in iter_segments(seconds, SIZE, SIZE, FPS, start_pts=START_PTS)]
        publishing = asyncio.create_task(gateway.publish(segments))
        if during is not None:
            await during(gateway, stream_id)
        await publishing
        await asyncio.sleep(1.0)  # the last frames through the graph
        snapshot = await get_json(url + "/trickle/status")
        await gateway.end_input()
        assert await wait_idle(url) == "IDLE"
        deadline = time.monotonic() + 10
        while gateway.output.end_reason is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        events = [e for _, e in gateway.events]
        data = bytes(gateway.output.data)
        return Output(decode(data), events, snapshot, data)
    finally:
        await gateway.close()
        await orch.close()


def check_frames(out: Output, seconds: int) -> None:
    total = seconds * FPS
    numbers = [n for _, n, _ in out.frames]
    assert all(0 <= n < total for n in numbers), numbers[:10]
    assert numbers == sorted(set(numbers)), "output frames out of order or doubled"
    assert all(pts == START_PTS + n * 3000 for pts, n, _ in out.frames)
    # Live video drops the oldest waiting frame when the graph falls behind (a shared 2-core box
    # does): every input frame must be either published or counted as dropped.
    (stream,) = out.status["streams"]
    assert stream["frames_in"] >= total - FPS, stream
    assert stream["frames_out"] + stream["drops"] >= stream["frames_in"] - 2, stream
    assert len(numbers) >= 0.5 * total, f"{len(numbers)} of {total} frames came out"


def files_under(base: Path) -> set[Path]:
    return {p for d in ("output", "temp") for p in (base / d).rglob("*") if p.is_file()}


def snapshots(
    url: str,
    seen: dict[str, Any],
    action: Callable[[GatewayStream], Awaitable[Any]] | None = None,
    first: float = 2.0,
    then: float = 1.5,
) -> During:
    """A ``during`` for :func:`run_stream`: ``/trickle/status`` → ``comfyui`` after ``first``
    seconds into ``seen["before"]``; with an ``action``, run it, and after ``then`` more seconds
    into ``seen["after"]``."""

    async def during(gateway: GatewayStream, stream_id: str) -> None:
        await asyncio.sleep(first)
        seen["before"] = (await get_json(url + "/trickle/status"))["comfyui"]
        if action is None:
            return
        await action(gateway)
        await asyncio.sleep(then)
        seen["after"] = (await get_json(url + "/trickle/status"))["comfyui"]

    return during


def solid_png(path: Path, rgb: tuple[int, int, int], size: int = 32) -> None:
    """A one-colour RGB PNG (zlib and struct only)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    png = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * size)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png)


def mean_colours(data: bytes) -> list[tuple[int, int, int]]:
    with av.open(io.BytesIO(data), format="mpegts") as container:
        return [
            tuple(int(c) for c in f.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0))
            for f in container.decode(video=0)
        ]
