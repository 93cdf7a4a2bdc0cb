"""Live streams through a real ComfyUI, the way an orchestrator and a gateway drive them:
frame accounting, effects, updates and switches, errors and recovery (``stream_harness.py``)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trickle_live.trickle.media.testclip import read_frame_number
from trickle_live.trickle.runner.simulator import GatewayStream

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_harness import (  # noqa: E402
    FPS,
    SIZE,
    check_frames,
    failing_blur,
    files_under,
    get_json,
    run_stream,
    workflow,
)

pytestmark = pytest.mark.comfyui


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
            queue = await get_json(url + "/queue")
            items = queue["queue_running"] + queue["queue_pending"]
            queued.append([it[3]["client_id"] for it in items if it[1].startswith("trickle-")])
            await asyncio.sleep(0.15)
        seen["queued"] = queued
        seen["mid"] = (await get_json(url + "/trickle/status"))["comfyui"]["streams"][stream_id]
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


async def test_workflow_error_is_an_event_the_stream_keeps_publishing_and_recovers(
    comfyui,
) -> None:
    seen: dict[str, Any] = {}

    async def during(gateway: GatewayStream, stream_id: str) -> None:
        await asyncio.sleep(2.0)
        await gateway.send_control({"radius": 20})  # valid for the node, fails when run
        await asyncio.sleep(2.0)
        seen["failing"] = (await get_json(comfyui.url + "/trickle/status"))["comfyui"]["streams"]
        await gateway.send_control({"radius": 3})

    out = await run_stream(comfyui.url, {"prompt": failing_blur(SIZE)}, 7, during)
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
