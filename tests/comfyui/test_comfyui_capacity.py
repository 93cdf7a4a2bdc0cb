"""Capacity N inside one ComfyUI: three streams at once, one per contract, each its own workflow.

In a ComfyUI with ``TRICKLE_CAPACITY=3``: an aiModels stream (the orchestrator's
``POST /live-video-to-video``) running ``invert``, a BYOC stream (``/stream/start``) running
``passthrough`` and a live-runner session (through the orchestrator emulator) running a blur, all
fed in real time at once. Each gets its own pictures; an update that breaks one stream's workflow
(a blur radius that fails at run time) gives error events on that stream only while the other two
keep publishing; every stream is served (none starves); and an editor Run gets through meanwhile.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp import ClientSession
from trickle_live.trickle.media.testclip import iter_segments
from trickle_live.trickle.runner.simulator import GatewayStream, LocalOrchestrator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "liverunner"))
from lr_emulator import OrchestratorEmulator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_harness import failing_blur, workflow  # noqa: E402

pytestmark = pytest.mark.comfyui

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "/trickle-live/lr"
FPS, SIZE, SECONDS = 15, 64, 8


@dataclass
class SessionChannels:
    """A live-runner session's public URLs in the shape GatewayStream reads."""

    input: str
    output: str
    control: str
    events: str


def levels(data: bytes) -> dict[int, float]:
    """pts → mean brightness of each decodable frame of a TS byte stream."""
    found = {}
    with av.open(io.BytesIO(data), format="mpegts") as container:
        for frame in container.decode(video=0):
            found[int(frame.pts)] = float(frame.to_ndarray(format="rgb24").mean())
    return found


def errors(gateway: GatewayStream) -> list[str]:
    return [
        str(e["event"].get("message"))
        for _, e in gateway.events
        if e.get("event", {}).get("type") == "error"
    ]


async def get_json(url: str) -> Any:
    def fetch() -> Any:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return json.load(resp)

    return await asyncio.to_thread(fetch)


async def post_json(url: str, body: Any) -> tuple[int, Any]:
    def send() -> tuple[int, Any]:
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.load(resp)

    return await asyncio.to_thread(send)


@pytest.mark.slow
async def test_three_contracts_three_workflows_at_once(comfyui_two: Any) -> None:
    comfy = comfyui_two
    local = LocalOrchestrator()
    await local.start()
    orch = OrchestratorEmulator()
    await orch.start()
    orch.register_static("multi", f"http://127.0.0.1:{comfy.lr_port}{PREFIX}", capacity=2)
    gateways: list[GatewayStream] = []
    try:
        # aiModels: invert
        ch_a = local.create_channels()
        aimodels = GatewayStream(ch_a)
        status, body, _ = await local.start_stream(
            comfy.url, ch_a, {"prompt": workflow("invert")}, stream_id="aimodels-1"
        )
        assert status == 200, body
        # BYOC: passthrough
        ch_b = local.create_channels()
        byoc = GatewayStream(ch_b)
        start = {
            "subscribe_url": ch_b.input, "publish_url": ch_b.output, "control_url": ch_b.control,
            "events_url": ch_b.events, "gateway_request_id": "byoc-1",
            "params": {"prompt": workflow("passthrough")},
        }  # fmt: skip
        async with ClientSession() as http:
            headers = {"X-Stream-Id": "byoc-1"}
            async with http.post(comfy.url + "/stream/start", json=start, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
            # live runner: a blur (radius 2) on a 16x16 picture
            async with http.post(f"{orch.url}/apps/multi/session") as resp:
                reservation = await resp.json()
            blur = failing_blur(SIZE)
            async with http.post(
                reservation["app_url"] + "/start", json={"workflow": blur}
            ) as resp:
                assert resp.status == 200, await resp.text()
                reply = await resp.json()
        session = GatewayStream(
            SessionChannels(  # type: ignore[arg-type]
                reply["publish_url"], reply["subscribe_url"], reply["control_url"],
                reply["events_url"],
            )
        )  # fmt: skip
        gateways = [aimodels, byoc, session]
        for gateway in gateways:
            gateway.start_readers()
        segments = [(s, 1.0) for s in iter_segments(SECONDS, SIZE, SIZE, FPS)]
        feeding = [asyncio.create_task(g.publish(segments)) for g in gateways]
        await asyncio.sleep(3.5)
        # the live-runner session's workflow breaks (radius 20 on its 16x16 picture fails at run
        # time); the others must not notice
        async with ClientSession() as http:
            async with http.post(reservation["app_url"] + "/update", json={"radius": 20}) as resp:
                assert resp.status == 200, await resp.text()
        before = [g.output.segments for g in gateways]
        # an editor Run while three streams run: it completes
        prompt_id = str(uuid.uuid4())
        run = {"prompt": workflow("invert"), "prompt_id": prompt_id, "client_id": "test"}
        status, _ = await post_json(comfy.url + "/prompt", run)
        assert status == 200
        deadline = time.monotonic() + 60
        while True:
            history = await get_json(f"{comfy.url}/history/{prompt_id}")
            if prompt_id in history:
                assert history[prompt_id]["status"]["status_str"] == "success", history
                break
            assert time.monotonic() < deadline, "the editor's Run did not get through"
            await asyncio.sleep(0.3)
        page = await get_json(comfy.url + "/trickle/status")
        await asyncio.gather(*feeding)
        await asyncio.sleep(1.5)
        # fair service: every stream got frames through its own workflow while all ran
        rates = {s["stream_id"]: s for s in page["streams"]}
        assert set(rates) >= {"aimodels-1", "byoc-1", reservation["session_id"]}, list(rates)
        for stream in rates.values():
            assert stream["frames_out"] >= 0.4 * stream["frames_in"] > 0, stream
        # the two healthy streams kept publishing after the third broke, without errors
        for gateway, earlier in zip(gateways[:2], before[:2], strict=True):
            assert gateway.output.segments > earlier
            assert errors(gateway) == []
        assert any("ImageBlur" in m for m in errors(session)), errors(session)
        # each stream's pictures are its own workflow's (by brightness against the input frame)
        sent = levels(b"".join(data for data, _ in segments))
        out_a = levels(bytes(aimodels.output.data))
        out_b = levels(bytes(byoc.output.data))
        assert out_a and all(abs((255 - sent[p]) - m) < 40 for p, m in out_a.items())  # inverted
        assert out_b and all(abs(sent[p] - m) < 40 for p, m in out_b.items())  # unchanged
        assert levels(bytes(session.output.data))
    finally:
        for gateway in gateways:
            await gateway.end_input()
            await gateway.close()
        await local.close()
        await orch.close()
