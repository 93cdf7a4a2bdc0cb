"""Frame plans change nothing in the pictures: the same clip streamed through a real ComfyUI with
plans on (default) and with ``TRICKLE_FRAME_PLAN=off`` (the private executor runs every frame,
ComfyUI's own per-prompt path) gives byte-identical output pictures, frame by frame (same pts),
for passthrough, blur and the diffusion workflow (fixed seed, so the sampler's noise is the same).
A plan also converts TrickleInput's picture to a float IMAGE only when a node other than
TrickleOutput reads it: the passthrough's plan frames convert nothing, and still publish the same
pictures as the executor's.

The encoded output stream cannot be compared (the encoder's prediction depends on which frames
came before, and live video drops frames under load), so each ComfyUI keeps a sha1 of every
published picture by pts (``TRICKLE_OUTPUT_DIGESTS``) and ``/trickle/status`` shows them.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager
from typing import Any

import pytest
from trickle_live.trickle.media.testclip import iter_segments

from .conftest import ComfyUI, boot, boot_with_model
from .stream_harness import get_json, local_gateway, wait_idle, workflow

DIGESTS = {"TRICKLE_OUTPUT_DIGESTS": "100000", "TRICKLE_INPUT_TIMEOUT": "60"}


async def stream_stats(comfy: ComfyUI) -> dict[str, Any]:
    streams = (await get_json(comfy.url + "/trickle/status"))["comfyui"]["streams"]
    return next(iter(streams.values()), {})


async def digests_of(
    comfy: ComfyUI, params: dict[str, Any], size: int, frames: int, timeout: float
) -> tuple[dict[str, str], dict[str, Any]]:
    """Stream ``frames`` one-frame segments of the test clip, each after the graph has taken the
    one before (so no frame is dropped, however loaded the box is); (pts → sha1, the stream's
    stats)."""
    orch, channels, gateway = await local_gateway()
    stats: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        status, body, _ = await orch.start_stream(comfy.url, channels, params, stream_id="eq")
        assert status == 200, body
        while time.monotonic() < deadline:  # loaded and warmed up
            if (await stream_stats(comfy)).get("state") == "READY":
                break
            await asyncio.sleep(0.5)
        for sent, segment in enumerate(iter_segments(frames, size, size, 1.0), start=1):
            await gateway.publish([(segment, 1.0)], realtime=False)
            # a decoder may hold one frame back until the next segment comes
            while time.monotonic() < deadline:
                stats = await stream_stats(comfy)
                if stats.get("frames", 0) + stats.get("errors", 0) >= sent - 1:
                    break
                await asyncio.sleep(0.2)
        while time.monotonic() < deadline and stats.get("frames", 0) < frames - 1:
            stats = await stream_stats(comfy)
            await asyncio.sleep(0.2)
        lease = (await get_json(comfy.url + "/trickle/status"))["comfyui"]["private_executor"]
        stats["conversion_ms_per_frame"] = lease["conversion_ms_per_frame"]
    finally:
        await gateway.end_input()
        await wait_idle(comfy.url, 60)
        await gateway.close()
        await orch.close()
    digests = stats.get("output_digests", {})
    assert len(digests) >= frames - 1, stats
    return digests, stats


def blur_comfy(factory: pytest.TempPathFactory, plan: str) -> AbstractContextManager[ComfyUI]:
    return boot(
        factory,
        f"comfy-eq-blur-{plan}",
        skip_reason="COMFYUI_PATH is not set: the plan-equality tests need a ComfyUI",
        env={**DIGESTS, "TRICKLE_FRAME_PLAN": plan},
    )


def sd_comfy(factory: pytest.TempPathFactory, plan: str) -> AbstractContextManager[ComfyUI]:
    return boot_with_model(factory, f"comfy-eq-sd-{plan}", {**DIGESTS, "TRICKLE_FRAME_PLAN": plan})


SD_START = {
    "prompt": workflow("sd-turbo-img2img"),
    "steps": 1,
    "seed": 7,
    "6": {"width": 64, "height": 64},
    "width": 64,
    "height": 64,
}
CASES = {
    # name: (ComfyUI, start params, clip size, frames, seconds allowed)
    "passthrough": (blur_comfy, {"prompt": workflow("passthrough")}, 128, 12, 90.0),
    "blur": (blur_comfy, {"prompt": workflow("blur"), "radius": 5}, 128, 12, 90.0),
    "sd-turbo-img2img": (sd_comfy, SD_START, 64, 6, 300.0),
}


def run_case(
    factory: pytest.TempPathFactory, name: str, plan: str
) -> tuple[dict[str, str], dict[str, Any]]:
    make, params, size, frames, timeout = CASES[name]
    with make(factory, plan) as comfy:  # stopped before the next one starts
        return asyncio.run(digests_of(comfy, params, size, frames, timeout))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", list(CASES))
def test_plan_on_and_off_publish_identical_pictures(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    # one ComfyUI at a time (the model's ComfyUI holds ≈5 GB on the CPU)
    on, on_stats = run_case(tmp_path_factory, name, "on")
    off, off_stats = run_case(tmp_path_factory, name, "off")
    assert on_stats["frame_plan"]["active"], on_stats["frame_plan"]
    assert off_stats["frame_plan"] == {"active": False, "reason": "TRICKLE_FRAME_PLAN is off"}
    # a plan converts TrickleInput's picture only when a node other than TrickleOutput reads it;
    # the executor always does (passthrough: one way, the way back is skipped as untouched)
    passthrough = name == "passthrough"
    assert on_stats["frame_plan"]["unconverted_inputs"] == (["1"] if passthrough else [])
    assert (on_stats["conversion_ms_per_frame"] == 0) is passthrough, on_stats
    assert off_stats["conversion_ms_per_frame"] > 0, off_stats
    common = sorted(set(on) & set(off), key=int)
    assert len(common) >= CASES[name][3] - 1, (len(common), len(on), len(off))
    differing = [pts for pts in common if on[pts] != off[pts]]
    assert not differing, f"{len(differing)} of {len(common)} pictures differ: {differing[:5]}"
    assert len(set(on[p] for p in common)) > 1  # the clip moves: not one picture over and over
