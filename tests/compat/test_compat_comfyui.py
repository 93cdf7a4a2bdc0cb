"""The compatibility points inside a real ComfyUI (skipped without ``COMFYUI_PATH``): a ComfyUI
started the way an operator following the docs would, with ``TRICKLE_MODEL_ID=comfyui`` and a
default live workflow named by ``TRICKLE_WORKFLOW`` (a ComfyStream-style file: LoadImage →
ImageInvert → PreviewImage); streams driven by the in-process orchestrator and gateway."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from compat_graphs import LOADIMAGE_BLUR_SAVE, LOADIMAGE_INVERT_PREVIEW, PRIMARY_INVERT, as_text
from compat_kit import frames_of
from runner_streamkit import clip, decode, wait_for
from trickle_live.trickle.runner.simulator import GatewayStream

from ..comfyui.conftest import boot
from ..comfyui.stream_harness import get_json, local_gateway

pytestmark = pytest.mark.comfyui

MODEL_ID = "comfyui"


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # TRICKLE_WORKFLOW names a workflow file, as the docs' "--workflow" users would
    factory = tmp_path_factory
    workflow_dir = factory.mktemp("compat-workflow")
    workflow_file = workflow_dir / "authoring-page-workflow.json"
    workflow_file.write_text(as_text(LOADIMAGE_INVERT_PREVIEW))
    with boot(
        factory,
        "comfy-compat",
        skip_reason="COMFYUI_PATH is not set: the ComfyUI compatibility tests need a ComfyUI",
        env={"TRICKLE_MODEL_ID": MODEL_ID, "TRICKLE_WORKFLOW": str(workflow_file)},
    ) as comfyui:
        comfyui.workflow_file = workflow_file
        yield comfyui


async def run(
    comfy: Any,
    params: dict[str, Any] | None,
    model_id: str,
    seconds: float = 3.0,
    during: Callable[[GatewayStream, str], Awaitable[None]] | None = None,
) -> tuple[bytes, list[dict[str, Any]]]:
    """One stream through ComfyUI; the output bytes and the inner events."""
    orch, channels, gateway = await local_gateway()
    stream_id = f"compat-{channels.mid}"
    try:
        status, body, _ = await orch.start_stream(
            comfy.url, channels, params, stream_id=stream_id, model_id=model_id
        )
        assert status == 200, body
        publishing = asyncio.create_task(gateway.publish(clip(seconds)))
        if during is not None:
            await during(gateway, stream_id)
        await publishing
        await asyncio.sleep(1.0)
        await gateway.end_input()
        deadline = time.monotonic() + 20
        while (await get_json(comfy.url + "/health"))["status"] != "IDLE":
            assert time.monotonic() < deadline, "the stream did not end"
            await asyncio.sleep(0.2)
        await wait_for(lambda: gateway.output.end_reason is not None, 10)
    finally:
        await gateway.close()
        await orch.close()
    return bytes(gateway.output.data), [e.get("event", {}) for _, e in gateway.events]


def info(events: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("type") == "info" and e.get("message") == message]


def test_model_id_echoed_and_probes_recorded(comfy: Any) -> None:
    for path in ("/version", "/hardware/info", "/trickle/runner/version"):
        assert comfy.get(path)["model_id"] == MODEL_ID, path
    status = comfy.get("/trickle/status")
    assert status["advertised"]["capability"] == f"live-video-to-video/{MODEL_ID}"
    assert status["advertised"]["health_gate"] in ("passed", "not seen")
    assert status["config"]["workflow"] == str(comfy.workflow_file)


async def test_default_workflow_from_a_file_runs_for_any_model_id(comfy: Any) -> None:
    data, events = await run(comfy, None, "streamdiffusion")
    out = decode(data)
    assert len(out.pts) >= 20 and sum(out.inverted) >= 0.8 * len(out.inverted)
    (loaded,) = info(events, "workflow loaded")
    assert loaded["source"] == f"file {comfy.workflow_file}"
    assert "node 10 (LoadImage) reads the stream" in loaded["mapped"]
    assert "node 12 (PreviewImage) writes the stream" in loaded["mapped"]


async def test_saved_workflow_named_like_the_model_id_wins(comfy: Any) -> None:
    status, body = await asyncio.to_thread(
        comfy.request, "POST", "/trickle/workflows/streamdiffusion", PRIMARY_INVERT
    )
    assert status == 200, body
    try:
        data, events = await run(comfy, None, "streamdiffusion")
    finally:
        await asyncio.to_thread(comfy.request, "DELETE", "/trickle/workflows/streamdiffusion")
    (loaded,) = info(events, "workflow loaded")
    assert loaded["source"] == "workflow named like model_id 'streamdiffusion'"
    assert "node 5 (PrimaryInputLoadImage) reads the stream" in loaded["mapped"]
    out = decode(data)
    assert sum(out.inverted) >= 0.8 * len(out.inverted)


async def test_comfystream_graph_size_and_every_update_shape_and_door(comfy: Any) -> None:
    replies: dict[str, Any] = {}

    async def during(gateway: GatewayStream, stream_id: str) -> None:
        await asyncio.sleep(1.5)
        await gateway.send_control({"3": {"blur_radius": 3}})  # node id -> inputs
        headers = {"X-Stream-Id": stream_id}
        replies["flat"] = await _post(comfy.url + "/stream/params", {"sigma": 2.5}, headers)
        replies["bad"] = await _post(comfy.url + "/stream/update", {"sigma": 99}, headers)
        await asyncio.sleep(0.5)
        replies["mid"] = (await get_json(comfy.url + "/trickle/status"))["comfyui"]["streams"]
        replies["switch"] = await _post(
            comfy.url + "/api/stream/update", {"prompt": as_text(PRIMARY_INVERT)}, headers
        )

    params = {"prompts": [LOADIMAGE_BLUR_SAVE], "width": 96, "height": 64, "sigma": 1.5}
    data, events = await run(comfy, params, "comfystream", seconds=4.0, during=during)
    sizes, _ = frames_of(data)
    assert len(sizes) >= 30 and set(sizes) == {(96, 64)}
    (loaded,) = info(events, "workflow loaded")
    # the flat start param applies before the warm-up: the loaded workflow already has it
    assert loaded["source"] == "params.prompts" and loaded["params"] == {"sigma": 1.5}
    applied = info(events, "parameters applied")
    assert applied[0]["applied"] == {"2": {"value": 1.5}}  # the flat start param, then updates
    assert sorted(applied[0]["ignored"]) == ["height", "width"]
    assert "node 4 (SaveImage) writes the stream" in loaded["mapped"]
    (stream,) = replies["mid"].values()
    assert stream["params"] == {"sigma": 2.5}, stream
    assert replies["flat"][0] == 200 and replies["flat"][1]["applied"]["applied"] == {
        "2": {"value": 2.5}
    }
    assert replies["bad"][0] == 400 and replies["bad"][1]["detail"]["field"] == "sigma"
    assert replies["switch"][0] == 200, replies["switch"]
    assert any(e.get("applied") == {"3": {"blur_radius": 3}} for e in applied), applied
    (switched,) = info(events, "workflow switched")
    assert "node 9 (SaveTensor) writes the stream" in switched["mapped"]


async def _post(url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body, headers=headers) as resp:
            return resp.status, json.loads(await resp.text())
