"""The two executors in a real ComfyUI — private (a lease, the default) with its frame plans,
and ComfyUI's queue — driven through live streams (``stream_harness.py``)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_harness import (  # noqa: E402
    check_frames,
    mean_colours,
    run_stream,
    snapshots,
    solid_png,
    workflow,
)

pytestmark = pytest.mark.comfyui


async def test_private_executor_runs_the_frames_and_survives_an_interrupt(comfyui: Any) -> None:
    seen: dict[str, Any] = {}

    async def interrupt(_: Any) -> None:  # the editor's button
        await asyncio.to_thread(comfyui.request, "POST", "/interrupt", {})

    during = snapshots(comfyui.url, seen, interrupt, then=1.0)
    out = await run_stream(comfyui.url, {"prompt": workflow("invert")}, 6, during)
    check_frames(out, 6)
    before, after = seen["before"], seen["after"]
    (stream,) = before["streams"].values()
    assert stream["executor"] == "private", stream
    assert stream["frame_plan"]["active"] and stream["frame_plan"]["live_nodes"] == ["1", "2", "3"]
    private = before["private_executor"]
    assert private["frames"] > 30 and private["cpu_ms_per_frame"] > 0, private
    # the worker's CPU per frame, split: whole leases >= running frames >= our conversions
    # (invert converts both ways; read mid-lease from the worker's CPU clock)
    spent = [private[k] for k in ("worker_cpu_ms_per_frame", "cpu_ms_per_frame")]
    assert spent[0] >= spent[1] >= private["conversion_ms_per_frame"] > 0, private
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

    async def update(gateway: Any) -> None:
        await gateway.send_control({"radius": 9})

    during = snapshots(comfyui.url, seen, update)
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
    out = await run_stream(comfyui.url, {"prompt": lazy_switch()}, 4, snapshots(comfyui.url, seen))
    check_frames(out, 4)
    (stream,) = seen["before"]["streams"].values()
    assert stream["frame_plan"] == {
        "active": False,
        "reason": "node 3 (ComfySwitchNode) has lazy inputs",
    }, stream
    assert stream["state"] == "READY" and stream["errors"] == 0, stream
    inverted = [inv for _, _, inv in out.frames]
    assert sum(inverted) >= 0.85 * len(inverted)  # processed all the same


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

    async def replace_picture(_: Any) -> None:
        solid_png(reference, (16, 16, 240))

    try:
        during = snapshots(comfyui.url, seen, replace_picture, then=2.0)
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
    during = snapshots(comfyui_queue.url, seen, first=2.5)
    out = await run_stream(comfyui_queue.url, {"prompt": workflow("invert")}, 5, during)
    check_frames(out, 5)
    (stream,) = seen["before"]["streams"].values()
    assert stream["executor"] == "queue" and stream["prompts"] > 30, stream
    assert seen["before"]["private_executor"] is None
    inverted = [inv for _, _, inv in out.frames]
    assert sum(inverted) >= 0.85 * len(inverted)
    history = comfyui_queue.get("/history")
    assert not [pid for pid in history if pid.startswith("trickle-")], "stream prompts kept"
