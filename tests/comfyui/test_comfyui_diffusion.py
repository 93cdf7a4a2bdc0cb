"""The bundled diffusion img2img workflow (``api_workflows/sd-turbo-img2img.api.json``, unchanged) run
per frame through a live stream in a real ComfyUI on the CPU, with a random-weight checkpoint of
the exact SD 2.1-Turbo layout (``scripts/make-random-checkpoint.py``, cached outside the repo by
``conftest.random_checkpoint``).

The start request sets the size and steps the documented way (a node patch for ImageScale, the
live parameter ``steps``), so a frame costs 64×64 at 1 step: the stock
``CheckpointLoaderSimple`` → ``CLIPTextEncode`` → ``VAEEncode`` → ``KSampler`` → ``VAEDecode``.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from trickle_live.trickle.media.testclip import iter_segments

from .stream_harness import get_json, local_gateway, wait_idle, workflow

SIZE, FPS = 64, 10
START = {
    "prompt": workflow("sd-turbo-img2img"),  # the bundled file as it is
    "steps": 1,  # the live parameter (1–4)
    "6": {"width": SIZE, "height": SIZE},  # ImageScale: 512² → 64² (a node patch)
    "width": SIZE,  # the warm-up frame's size
    "height": SIZE,
}
LIVE = ["1", "6", "7", "11", "12", "13"]  # TrickleInput, ImageScale, VAEEncode, KSampler, …
CONSTANT = ["2", "3", "4", "5", "8", "9", "10"]  # the checkpoint, the prompts, the parameters
Check = Callable[[dict[str, Any]], bool]


async def stream_stats(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(/trickle/status → comfyui, the one stream's stats there)."""
    comfy = (await get_json(url + "/trickle/status"))["comfyui"]
    streams = list(comfy["streams"].values())
    return comfy, streams[0] if streams else {}


async def wait_for(url: str, check: Check, timeout: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        comfy, stats = await stream_stats(url)
        if stats and check(stats):
            return {**stats, "models_loaded": comfy["models_loaded"]}
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout}s; last {stats}")


def applied(version: int, frames: int) -> Check:
    """The stream runs parameter ``version`` (its frame plan too) and has sent ``frames``."""
    return lambda s: (
        s["version"] == version
        and s["frame_plan"].get("version") == version
        and s["frames"] >= frames
    )


def frames_of(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data), format="mpegts") as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


async def test_sd_turbo_img2img_per_frame_model_once_prompt_once_seed_free_and_editor_run(
    comfyui_sd: Any,
) -> None:
    url = comfyui_sd.url
    orch, channels, gateway = await local_gateway()
    publishing: asyncio.Task[Any] | None = None
    seen: dict[str, dict[str, Any]] = {}
    try:
        status, body, _ = await orch.start_stream(url, channels, START, stream_id="sd-stream")
        assert status == 200, body
        segments = ((s, 1.0) for s in iter_segments(600, SIZE, SIZE, FPS))
        publishing = asyncio.create_task(gateway.publish(segments))
        # loading the checkpoint and the warm-up happen while the input is published
        seen["first"] = await wait_for(url, lambda s: s["frames"] >= 3, 300, "3 frames out")
        frames = seen["first"]["frames"]

        await gateway.send_control({"prompt": "a red fox in the snow"})  # the live text
        version = seen["first"]["version"] + 1
        seen["updated"] = await wait_for(
            url, applied(version, frames + 3), 120, "frames after the prompt update"
        )
        frames = seen["updated"]["frames"]

        await gateway.send_control({"seed": 43})  # a new seed: the next frames, no re-encoding
        version += 1
        seen["seeded"] = await wait_for(
            url, applied(version, frames + 2), 120, "frames after the seed update"
        )
        frames = seen["seeded"]["frames"]

        status, _ = comfyui_sd.request(
            "POST", "/free", {"unload_models": True, "free_memory": True}
        )
        assert status == 200
        seen["freed"] = await wait_for(
            url, lambda s: s["frames"] >= frames + 3, 120, "frames after /free"
        )
        frames = seen["freed"]["frames"]

        editor = workflow("blur")  # the editor's Run: its own prompt through ComfyUI's queue
        status, queued = comfyui_sd.request("POST", "/prompt", {"prompt": editor})
        assert status == 200, queued
        prompt_id = queued["prompt_id"]
        deadline = time.monotonic() + 120
        history: dict[str, Any] = {}
        while prompt_id not in history and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            history = comfyui_sd.get(f"/history/{prompt_id}")
        assert history[prompt_id]["status"]["status_str"] == "success", history
        seen["editor"] = await wait_for(
            url, lambda s: s["frames"] >= frames + 3, 120, "frames after the editor's Run"
        )
    finally:
        if publishing is not None:
            publishing.cancel()
            await asyncio.gather(publishing, return_exceptions=True)
        await gateway.end_input()
        idle = await wait_idle(url, 60)
        deadline = time.monotonic() + 10
        while gateway.output.end_reason is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        data = bytes(gateway.output.data)
        await gateway.close()
        await orch.close()
    assert idle == "IDLE"

    first, updated, freed, final = (seen[k] for k in ("first", "updated", "freed", "editor"))
    # the frame plan runs the frame-dependent nodes; the checkpoint, prompts, seed are constants
    plan = first["frame_plan"]
    assert plan["active"] and plan["live_nodes"] == LIVE, plan
    assert plan["constant_nodes"] == CONSTANT, plan
    # the model is loaded once for the whole stream (the warm-up), not per frame, not by /free
    log = comfyui_sd.log()
    assert log.count("model weight dtype") == 1, log[-3000:]
    runs = final["node_runs"]
    assert runs["CheckpointLoaderSimple"] == 1, runs
    # text encoding: twice at the warm-up (positive, negative), once more for the prompt update
    assert first["node_runs"]["CLIPTextEncode"] == 2, first
    assert runs["CLIPTextEncode"] == 3, runs
    assert updated["params"]["prompt"] == "a red fox in the snow", updated
    assert seen["seeded"]["params"]["seed"] == 43 and runs["TrickleParamSeed"] == 2, seen["seeded"]
    # every frame: scale, encode, sample, decode (warm-up included)
    assert runs["KSampler"] == runs["VAEEncode"] == runs["VAEDecode"] == runs["ImageScale"]
    assert runs["KSampler"] >= final["frames"], (runs, final["frames"])
    # model management stays flat: no growth in loaded models; /free did not break the stream
    assert len(final["models_loaded"]) <= len(first["models_loaded"]), (first, final)
    assert final["errors"] == 0 and final["state"] == "READY", final
    pictures = frames_of(data)
    assert len(pictures) >= final["frames"] - 2, (len(pictures), final["frames"])
    assert all(p.shape == (SIZE, SIZE, 3) for p in pictures), {p.shape for p in pictures}
