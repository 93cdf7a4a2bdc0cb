"""Live streams through a real ComfyUI, the way an orchestrator and a gateway drive them.

The in-process trickle server plays the orchestrator (channels, the start request) and a gateway
publishes a generated clip in real time whose frames carry their number as a barcode, so each
output frame can be traced to its input frame (pts kept exactly; inverted or not).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from trickle_live.trickle.media.testclip import iter_segments, read_frame_number
from trickle_live.trickle.runner.simulator import GatewayStream, LocalOrchestrator

pytestmark = pytest.mark.comfyui

ROOT = Path(__file__).resolve().parents[2]
FPS, SIZE, START_PTS = 30, 128, 90_000


def workflow(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "workflows" / f"{name}.api.json").read_text())


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


async def _get(url: str) -> Any:
    def fetch() -> Any:
        import urllib.request

        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())

    return await asyncio.to_thread(fetch)


async def wait_idle(url: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    health = ""
    while time.monotonic() < deadline:
        health = (await _get(url + "/health"))["status"]
        if health == "IDLE":
            return health
        await asyncio.sleep(0.2)
    return health


async def run_stream(
    url: str,
    params: dict[str, Any],
    seconds: int,
    during: Callable[[GatewayStream, str], Awaitable[Any]] | None = None,
) -> Output:
    orch = LocalOrchestrator()
    await orch.start()
    channels = orch.create_channels()
    gateway = GatewayStream(channels)
    gateway.start_readers()
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
        snapshot = await _get(url + "/trickle/status")
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


async def test_passthrough_stream_frame_count_and_pts(comfyui) -> None:
    before = files_under(comfyui.base)
    out = await run_stream(comfyui.url, {"prompt": workflow("passthrough")}, 10)
    check_frames(out, 10)
    assert files_under(comfyui.base) == before, "a stream wrote files"  # TrickleOutput: none
    assert not any(inv for _, _, inv in out.frames)
    assert "error" not in [e.get("event", {}).get("type") for e in out.events]


async def test_effect_stream_inverts_frames(comfyui) -> None:
    out = await run_stream(comfyui.url, {"prompt": json.dumps(workflow("invert"))}, 6)
    check_frames(out, 6)
    inverted = [inv for _, _, inv in out.frames]
    assert sum(inverted) >= 0.85 * len(inverted), f"{sum(inverted)} of {len(inverted)} inverted"


async def test_updates_and_switch_during_stream_editor_run_history(comfyui) -> None:
    url = comfyui.url
    editor_prompt = str(uuid.uuid4())
    seen: dict[str, Any] = {}

    async def during(gateway: GatewayStream, stream_id: str) -> None:
        await asyncio.sleep(2.5)
        await gateway.send_control({"radius": 7, "sigma": 3.0})
        queued = []
        for _ in range(10):  # ComfyUI's own queue holds at most two stream prompts, private
            queue = await _get(url + "/queue")
            items = queue["queue_running"] + queue["queue_pending"]
            queued.append([it[3]["client_id"] for it in items if it[1].startswith("trickle-")])
            await asyncio.sleep(0.15)
        seen["queued"] = queued
        seen["mid"] = (await _get(url + "/trickle/status"))["comfyui"]["streams"][stream_id]
        body = {"prompt": workflow("passthrough"), "prompt_id": editor_prompt, "client_id": "ed"}
        seen["editor"] = await asyncio.to_thread(comfyui.request, "POST", "/prompt", body)
        await gateway.send_control({"prompt": workflow("invert")})

    out = await run_stream(url, {"prompt": workflow("blur")}, 9, during)
    check_frames(out, 9)
    assert seen["mid"]["params"] == {"radius": 7, "sigma": 3.0}, seen["mid"]
    assert all(len(ids) <= 2 for ids in seen["queued"]), seen["queued"]  # one or two ahead
    clients = {c for ids in seen["queued"] for c in ids}
    assert len(clients) == 1 and next(iter(clients)).startswith("trickle-live-"), clients
    assert seen["editor"][0] == 200, seen["editor"]
    inverted = [inv for _, _, inv in out.frames]
    first = inverted.index(True)
    assert not any(inverted[:first]) and all(inverted[first + 15 :]), "switch not clean"
    assert 3 * FPS < out.frames[first][1] < 8 * FPS
    history = comfyui.get("/history")
    assert editor_prompt in history
    assert history[editor_prompt]["status"]["status_str"] == "success"
    assert not [pid for pid in history if pid.startswith("trickle-")], "stream prompts kept"
    assert len(history) < 20


async def test_bad_update_is_an_error_event_and_stream_continues(comfyui) -> None:
    async def during(gateway: GatewayStream, stream_id: str) -> None:
        await asyncio.sleep(2.0)
        await gateway.send_control({"radius": 1000})
        await gateway.send_control({"keep": "alive"})

    out = await run_stream(comfyui.url, {"prompt": workflow("blur")}, 4, during)
    check_frames(out, 4)
    errors = [e["event"] for e in out.events if e.get("event", {}).get("type") == "error"]
    assert any("radius" in json.dumps(e) and "1000" in json.dumps(e) for e in errors), errors


def test_image_helpers_roundtrip() -> None:
    """The barcode check itself can fail: an inverted picture does not read as the plain one."""
    from trickle_live.trickle.media.testclip import pattern_frame

    image = pattern_frame(77, SIZE, SIZE)
    assert read_frame_number(image) == 77
    assert read_frame_number(np.ascontiguousarray(255 - image)) != 77


def failing_blur() -> dict[str, Any]:
    """TrickleInput → 16×16 → ImageBlur(live ``radius``) → 128×128 → TrickleOutput. It validates
    for every radius 1..31, but a radius ≥ 16 fails at run time (reflect padding wider than the
    picture): a workflow error that a parameter update causes and another one cures."""
    scale = {"upscale_method": "nearest-exact", "crop": "disabled"}
    return {
        "1": {"class_type": "TrickleInput", "inputs": {"test_width": 128, "test_height": 128}},
        "2": {"class_type": "TrickleParamInt",
              "inputs": {"name": "radius", "value": 2, "min": 1, "max": 31}},
        "3": {"class_type": "ImageScale",
              "inputs": {"image": ["1", 0], "width": 16, "height": 16, **scale}},
        "4": {"class_type": "ImageBlur",
              "inputs": {"image": ["3", 0], "blur_radius": ["2", 0], "sigma": 1.0}},
        "5": {"class_type": "ImageScale",
              "inputs": {"image": ["4", 0], "width": SIZE, "height": SIZE, **scale}},
        "6": {"class_type": "TrickleOutput", "inputs": {"images": ["5", 0]}},
    }  # fmt: skip


async def test_workflow_error_is_an_event_the_stream_keeps_publishing_and_recovers(
    comfyui,
) -> None:
    seen: dict[str, Any] = {}

    async def during(gateway: GatewayStream, stream_id: str) -> None:
        await asyncio.sleep(2.0)
        await gateway.send_control({"radius": 20})  # valid for the node, fails when run
        await asyncio.sleep(2.0)
        seen["failing"] = (await _get(comfyui.url + "/trickle/status"))["comfyui"]["streams"]
        await gateway.send_control({"radius": 3})

    out = await run_stream(comfyui.url, {"prompt": failing_blur()}, 7, during)
    check_frames(out, 7)
    kinds = [(e["event"]["type"], e["event"].get("message", "")) for e in out.events]
    errors = [m for k, m in kinds if k == "error"]
    assert errors, kinds
    recovered = [i for i, (k, m) in enumerate(kinds) if k == "info" and m == "workflow recovered"]
    first_error = next(i for i, (k, _) in enumerate(kinds) if k == "error")
    assert recovered and recovered[-1] > first_error, kinds
    (stats,) = seen["failing"].values()
    assert stats["state"] == "ERROR" and stats["errors"] > 0, stats
    assert stats["passthrough"] > 0, stats  # failed frames went out as the input
    pts = [p for p, _, _ in out.frames]  # the output never paused while the workflow failed
    assert max(b - a for a, b in zip(pts, pts[1:], strict=False)) <= 15 * 3000, pts
    assert out.frames[-1][1] >= 6 * FPS  # and it ran to the end of the clip


# -- the two executors: private (a lease, the default) and ComfyUI's queue ------------------


async def test_private_executor_runs_the_frames_and_survives_an_interrupt(comfyui: Any) -> None:
    seen: dict[str, Any] = {}

    async def during(gateway: GatewayStream, stream_id: str) -> None:
        await asyncio.sleep(2.0)
        before = (await _get(comfyui.url + "/trickle/status"))["comfyui"]
        seen["before"] = before
        await asyncio.to_thread(comfyui.request, "POST", "/interrupt", {})  # the editor's button
        await asyncio.sleep(1.0)
        seen["after"] = (await _get(comfyui.url + "/trickle/status"))["comfyui"]

    out = await run_stream(comfyui.url, {"prompt": workflow("invert")}, 6, during)
    check_frames(out, 6)
    before, after = seen["before"], seen["after"]
    (stream,) = before["streams"].values()
    assert stream["executor"] == "private", stream
    assert stream["frame_plan"]["active"] and stream["frame_plan"]["live_nodes"] == ["1", "2", "3"]
    private = before["private_executor"]
    assert private["frames"] > 30 and private["cpu_ms_per_frame"] > 0, private
    assert private["frame_plans"] == "on" and private["plan_frames"] > 30, private
    assert after["private_executor"]["leases"] > private["leases"], after  # a new lease began
    assert after["private_executor"]["frames"] > private["frames"]  # and frames went on
    numbers = [n for _, n, _ in out.frames]
    assert numbers[-1] >= 5 * 30, numbers[-5:]  # to the end of the clip
    inverted = [inv for _, _, inv in out.frames]
    assert sum(inverted) >= 0.85 * len(inverted)
    history = comfyui.get("/history")
    assert not [pid for pid in history if pid.startswith("trickle-")], "leases kept in history"
    queue = comfyui.get("/queue")
    assert queue["queue_running"] == [] and queue["queue_pending"] == []  # nothing left behind


def lazy_switch() -> dict[str, Any]:
    """TrickleInput → ImageInvert → ComfySwitchNode(switch on, lazy inputs) → TrickleOutput."""
    return {
        "1": {"class_type": "TrickleInput", "inputs": {}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ComfySwitchNode",
              "inputs": {"switch": True, "on_true": ["2", 0], "on_false": ["1", 0]}},
        "4": {"class_type": "TrickleOutput", "inputs": {"images": ["3", 0]}},
    }  # fmt: skip


async def test_frame_plan_takes_constants_from_the_cache_and_is_rebuilt_on_updates(
    comfyui: Any,
) -> None:
    seen: dict[str, Any] = {}

    async def during(gateway: GatewayStream, stream_id: str) -> None:
        await asyncio.sleep(2.0)
        seen["before"] = (await _get(comfyui.url + "/trickle/status"))["comfyui"]
        await gateway.send_control({"radius": 9})
        await asyncio.sleep(1.5)
        seen["after"] = (await _get(comfyui.url + "/trickle/status"))["comfyui"]

    out = await run_stream(comfyui.url, {"prompt": workflow("blur")}, 5, during)
    check_frames(out, 5)
    (before,) = seen["before"]["streams"].values()
    (after,) = seen["after"]["streams"].values()
    plan = before["frame_plan"]
    assert plan["active"], plan  # the two live parameters are constants, ImageBlur runs per frame
    assert (plan["live_nodes"], plan["constant_nodes"]) == (["1", "4", "5"], ["2", "3"]), plan
    assert after["version"] == before["version"] + 1 and after["params"]["radius"] == 9, after
    assert after["frame_plan"]["active"] and after["frame_plan"]["version"] == after["version"]
    frames = seen["after"]["private_executor"]["plan_frames"]
    assert frames > seen["before"]["private_executor"]["plan_frames"] + 20, seen


async def test_frame_plan_refused_for_lazy_inputs_the_executor_runs_the_frames(
    comfyui: Any,
) -> None:
    seen: dict[str, Any] = {}

    async def during(gateway: GatewayStream, stream_id: str) -> None:
        await asyncio.sleep(2.0)
        seen["status"] = (await _get(comfyui.url + "/trickle/status"))["comfyui"]

    out = await run_stream(comfyui.url, {"prompt": lazy_switch()}, 4, during)
    check_frames(out, 4)
    (stream,) = seen["status"]["streams"].values()
    assert stream["frame_plan"] == {
        "active": False,
        "reason": "node 3 (ComfySwitchNode) has lazy inputs",
    }, stream
    assert stream["state"] == "READY" and stream["errors"] == 0, stream
    inverted = [inv for _, _, inv in out.frames]
    assert sum(inverted) >= 0.85 * len(inverted)  # processed all the same


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


async def test_frame_plan_watches_a_loaded_image_and_follows_its_file(comfyui: Any) -> None:
    """LoadImage is a constant that ComfyUI asks every run whether its file changed: the plan
    asks it too, and a new picture in the file reaches the output through a rebuilt plan."""
    name = f"plan-ref-{uuid.uuid4().hex[:8]}.png"
    reference = comfyui.base / "input" / name
    solid_png(reference, (240, 16, 16))
    graph = {
        "1": {"class_type": "TrickleInput", "inputs": {}},
        "2": {"class_type": "LoadImage", "inputs": {"image": name}},
        "3": {"class_type": "ImageBlend", "inputs": {"image1": ["1", 0], "image2": ["2", 0],
              "blend_factor": 1.0, "blend_mode": "normal"}},
        "4": {"class_type": "TrickleOutput", "inputs": {"images": ["3", 0]}},
    }  # fmt: skip
    seen: dict[str, Any] = {}

    async def during(gateway: GatewayStream, stream_id: str) -> None:
        await asyncio.sleep(2.0)
        seen["before"] = (await _get(comfyui.url + "/trickle/status"))["comfyui"]
        solid_png(reference, (16, 16, 240))
        await asyncio.sleep(2.0)
        seen["after"] = (await _get(comfyui.url + "/trickle/status"))["comfyui"]

    try:
        out = await run_stream(comfyui.url, {"prompt": graph}, 5, during)
    finally:
        reference.unlink(missing_ok=True)
    check_frames(out, 5)
    (before,) = seen["before"]["streams"].values()
    (after,) = seen["after"]["streams"].values()
    plan = before["frame_plan"]
    assert plan["active"] and plan["watched_nodes"] == ["2"] and plan["constant_nodes"] == ["2"]
    assert after["frame_plan"]["active"], after  # rebuilt after the change
    assert after["errors"] == 0 and after["passthrough"] == 0, after
    plan_frames = [seen[k]["private_executor"]["plan_frames"] for k in ("before", "after")]
    assert plan_frames[1] > plan_frames[0] + 20, plan_frames
    colours = ["red" if r > 2 * b else "blue" if b > 2 * r else "?" for r, _, b in
               mean_colours(out.data)]  # fmt: skip
    first_blue = colours.index("blue")
    assert first_blue > 30 and colours[:first_blue] == ["red"] * first_blue, colours[:40]
    assert colours[first_blue:] == ["blue"] * (len(colours) - first_blue), colours[first_blue:]


async def test_queue_executor_runs_one_prompt_per_frame(comfyui_queue: Any) -> None:
    seen: dict[str, Any] = {}

    async def during(gateway: GatewayStream, stream_id: str) -> None:
        await asyncio.sleep(2.5)
        seen["status"] = (await _get(comfyui_queue.url + "/trickle/status"))["comfyui"]

    out = await run_stream(comfyui_queue.url, {"prompt": workflow("invert")}, 5, during)
    check_frames(out, 5)
    (stream,) = seen["status"]["streams"].values()
    assert stream["executor"] == "queue" and stream["prompts"] > 30, stream
    assert seen["status"]["private_executor"] is None
    inverted = [inv for _, _, inv in out.frames]
    assert sum(inverted) >= 0.85 * len(inverted)
    history = comfyui_queue.get("/history")
    assert not [pid for pid in history if pid.startswith("trickle-")], "stream prompts kept"
