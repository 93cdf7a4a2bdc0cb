"""The go-livepeer live runner inside a real ComfyUI (the fixture sets ``TRICKLE_LR_PORT``).

ComfyUI's own port refuses every request an orchestrator proxied (the guard is PromptServer's
outermost middleware: ``/prompt``, uploads, static files, ``%2e%2e``/``..%2F`` escapes sent as
raw request lines), and still serves everything else; the live-runner app answers on its own port
only; and one session runs reserve → start → stream → stop through the orchestrator emulator of
``tests/liverunner`` with the ComfyUI passthrough workflow.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp import ClientSession
from trickle_live.trickle.media.testclip import make_test_clip, split_segments
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber
from yarl import URL

from ..raw_http import raw_request as exchange_request

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "liverunner"))
from lr_emulator import running_emulator  # noqa: E402
from lr_sessions import call  # noqa: E402
from trickle_live.trickle.session.workflow_spec import BUNDLED_DIR

pytestmark = pytest.mark.comfyui

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "/trickle-live/lr"
PROXY = {"Livepeer-Runner-Route": "trickle-live"}

# (method, raw request target) on ComfyUI's port: its own routes, static files, escapes.
GUARDED = [
    ("POST", "/prompt"),
    ("POST", "/api/prompt"),
    ("POST", "/upload/image"),
    ("GET", "/"),
    ("GET", "/system_stats"),
    ("GET", "/object_info"),
    ("GET", "/trickle/status"),
    ("GET", "/health"),
    ("GET", "/internal/logs"),
    ("GET", f"{PREFIX}/health"),
    ("POST", f"{PREFIX}/..%2F..%2Fprompt"),
    ("POST", f"{PREFIX}/%2e%2e/%2e%2e/prompt"),
    ("POST", f"{PREFIX}/%2E%2E%2F%2E%2E%2Fupload/image"),
    ("GET", "/%2e%2e/%2e%2e/etc/passwd"),
    ("GET", f"{PREFIX}/../../view?filename=x.png"),
]


async def raw_request(
    port: int, method: str, target: str, headers: dict[str, str]
) -> tuple[int, bytes]:
    return await exchange_request(
        port, method, target, headers, content_type="application/json", timeout=10
    )


def comfy_port(comfyui: Any) -> int:
    return int(URL(comfyui.url).port or 0)


async def pack_status(comfyui: Any) -> Any:
    """``/trickle/status`` without blocking the loop (the emulator runs on it)."""
    return await asyncio.to_thread(comfyui.get, "/trickle/status")


async def test_guard_refuses_proxied_requests_on_comfyui_port(comfyui: Any) -> None:
    port = comfy_port(comfyui)
    for header in (PROXY, {"livepeer-session-id": "s1"}, {"LIVEPEER-RUNNER-ROUTE": ""}):
        for method, target in GUARDED:
            status, body = await raw_request(port, method, target, header)
            assert status == 403, (method, target, header, status, body[:200])
            assert "live-runner" in json.loads(body)["detail"]["msg"]


async def test_comfyui_without_the_headers_still_works(comfyui: Any) -> None:
    port = comfy_port(comfyui)
    for target in ("/system_stats", "/api/system_stats", "/prompt", "/"):
        status, body = await raw_request(port, "GET", target, {})
        assert status == 200, (target, status, body[:200])
    status, body = await raw_request(port, "GET", "/object_info/TrickleInput", {})
    assert status == 200 and b"TrickleInput" in body
    # the app is never served on ComfyUI's port
    status, _ = await raw_request(port, "GET", f"{PREFIX}/health", {})
    assert status == 404


async def test_live_runner_site_on_its_own_port(comfyui: Any) -> None:
    lr = comfyui.lr_port
    assert lr and lr != comfy_port(comfyui)
    started = time.monotonic()
    status, body = await raw_request(lr, "GET", f"{PREFIX}/health", {})
    assert status == 200 and json.loads(body)["status"] == "IDLE"
    assert time.monotonic() - started < 3.0
    for method, target in [("GET", "/system_stats"), ("POST", "/prompt"), ("GET", "/")]:
        status, _ = await raw_request(lr, method, target, {})
        assert status == 404, (method, target, status)  # no ComfyUI route on the app's port
    section = (await pack_status(comfyui))["live_runner"]
    assert section["enabled"] is True and section["port"] == lr and section["error"] == ""
    (entry,) = section["registration"]["runners_json"]["runners"]
    assert entry["runner_url"] == f"http://127.0.0.1:{lr}{PREFIX}"
    assert entry["app"] == "live-video-to-video/comfyui"
    assert "registerLiveRunners" in section["registration"]["register_command"]
    assert section["heartbeat"] is None  # no TRICKLE_LR_ORCH_URL: static registration only


@pytest.fixture
async def orch() -> Any:
    async with running_emulator() as emulator:
        yield emulator


async def reserve(http: ClientSession, orch: Any, route: str) -> tuple[str, str]:
    async with http.post(f"{orch.url}/apps/{route}/session") as resp:
        assert resp.status == 200, await resp.text()
        reply = await resp.json()
    return reply["session_id"], reply["app_url"]


def decode_pts(data: bytes) -> list[int]:
    with av.open(io.BytesIO(data), format="mpegts") as container:
        return [int(frame.pts) for frame in container.decode(video=0)]


async def test_proxied_session_cannot_reach_comfyui(comfyui: Any, orch: Any) -> None:
    """Even a runner_url pointing at ComfyUI's port (a misconfiguration) reaches nothing."""
    orch.register_static("wrong-port", comfyui.url + PREFIX)
    orch.register_static("right-port", f"http://127.0.0.1:{comfyui.lr_port}{PREFIX}")
    async with ClientSession() as http:
        _, wrong = await reserve(http, orch, "wrong-port")
        _, right = await reserve(http, orch, "right-port")
        for path in ("/health", "/start", "/..%2F..%2Fprompt", "/%2e%2e/%2e%2e/prompt"):
            status, body = await call(http, "POST", wrong + path, {})
            assert status == 403, (path, status, body)
        for path in ("/..%2F..%2Fprompt", "/%2e%2e/%2e%2e/prompt", "/..%2F..%2Fsystem_stats"):
            status, body = await call(http, "POST", right + path, {})
            assert status == 404, (path, status, body)  # the app's port has no ComfyUI route
    assert "/prompt" in orch.proxied  # the escape was really forwarded to a bare /prompt


async def test_reserve_start_stream_stop_through_comfyui(comfyui: Any, orch: Any) -> None:
    lr_url = f"http://127.0.0.1:{comfyui.lr_port}{PREFIX}"
    orch.register_static("trickle-live", lr_url)
    workflow = json.loads((BUNDLED_DIR / "passthrough.api.json").read_text())
    clip = make_test_clip(2.0, 64, 64, 30, keyframe_seconds=0.5)
    sent = split_segments(clip)
    async with ClientSession() as http:
        sid, app_url = await reserve(http, orch, "trickle-live")
        status, reply = await call(http, "POST", app_url + "/start", {"workflow": workflow})
        assert status == 200, reply
        assert reply["session_id"] == sid
        status, busy = await call(http, "POST", app_url + "/start", {})
        assert status == 409, busy
        out = TrickleSubscriber(reply["subscribe_url"], start_seq=0)
        try:
            # the checks run while the input channel is open: leaving this block DELETEs it, and
            # the session then ends by itself (input EOS), racing the status checks
            async with TricklePublisher(reply["publish_url"]) as pub:
                for data in sent:
                    await pub.write_segment(data)
                segment = await asyncio.wait_for(out.next_segment(), 60)
                assert segment is not None
                frames = decode_pts(await segment.read_all())
                assert frames and set(frames) <= set(decode_pts(clip))  # input timestamps kept
                status, body = await call(http, "GET", app_url + "/status")
                assert status == 200 and body["session"]["state"] == "running", body
                section = await pack_status(comfyui)
                assert [s["session_id"] for s in section["live_runner"]["sessions"]] == [sid]
                assert len(section["streams"]) == 1  # the same StreamManager as the aiModels path
                status, body = await call(http, "POST", app_url + "/stop")
            assert (status, body["stopped"]) == (200, True)
        finally:
            await out.close()
    runner = orch.runners["trickle-live"]
    assert sid not in runner.sessions
    assert not [n for n in orch.trickle.channel_names() if sid in n]
    paths = [(m, p.rsplit("/", 1)[-1], s) for m, p, s in orch.calls if p.startswith("/runner/")]
    assert paths == [("POST", "channels", 200), ("POST", "stop", 204)]  # the O closes channels
    deadline = time.monotonic() + 15
    while (body := await pack_status(comfyui))["health"] != "IDLE":
        assert time.monotonic() < deadline, body["health"]
        await asyncio.sleep(0.1)
    assert body["live_runner"]["sessions"] == []
