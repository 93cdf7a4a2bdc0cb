"""A small go-livepeer orchestrator emulator for live-runner tests, plus shared helpers.

It serves, on 127.0.0.1 only, what a live runner talks to (go-livepeer ``doc/live-runner.md``,
``ai/runner/live_runner.go``, ``server/ai_http.go``):
``POST /runners/heartbeat`` (bootstrap with the orch secret, then the derived heartbeat secret;
401 for a wrong secret, 404 once expired), ``POST /runners/{id}/unregister``, the client side
(``POST /apps/{id}/session``, ``…/stop``, ``ANY …/app/{path}`` reverse-proxied with the four
session headers and go's ``JoinPath`` path cleaning), the runner callbacks
(``POST``/``DELETE /runner/{id}/session/{sid}/channels``, ``…/stop``), the o2r channel, and the
in-process trickle server under ``/ai/trickle/``. Public channel URLs use ``localhost``, internal
ones ``127.0.0.1``, and trickle requests are recorded by Host so a test sees who used which.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from trickle_live.trickle.config import RunnerConfig
from trickle_live.trickle.liverunner.config import LiveRunnerConfig
from trickle_live.trickle.liverunner.service import LiveRunnerService
from trickle_live.trickle.media.testclip import make_test_clip, split_segments
from trickle_live.trickle.session.manager import StreamManager
from trickle_live.trickle.session.processors import processor_factory
from yarl import URL

sys.path.insert(0, str(Path(__file__).parent))  # the emulator module beside this file
from lr_emulator import OrchestratorEmulator  # noqa: E402


@pytest.fixture
async def orch() -> Any:
    emulator = OrchestratorEmulator()
    await emulator.start()
    yield emulator
    await emulator.close()


@pytest.fixture
def segments() -> Any:
    """``segments(count, frames=6, size=64)``: generated MPEG-TS segments (see make_segments)."""
    return make_segments


def make_segments(count: int, frames: int = 6, size: int = 64, fps: int = 30) -> list[bytes]:
    """``count`` MPEG-TS segments of ``frames`` frames: one continuous H.264 stream cut at keyframes."""
    clip = make_test_clip(count * frames / fps, size, size, fps, keyframe_seconds=frames / fps)
    found = split_segments(clip)
    assert len(found) == count, len(found)
    return found


async def until(predicate: Any, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


class Client:
    """What a live-runner client does (the SDK's reserve_session / post_json, by hand)."""

    def __init__(self, orch: Any, http: ClientSession) -> None:
        self.orch, self.http = orch, http

    async def reserve(self, route: str) -> dict[str, Any]:
        async with self.http.post(f"{self.orch.url}/apps/{route}/session") as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    async def call(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, URL(url, encoded=True), json=body) as resp:
            raw = await resp.read()
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, raw.decode(errors="replace")


@pytest.fixture
async def live(orch: Any) -> Any:
    manager = StreamManager(RunnerConfig(status_interval=0.5), processor_factory("invert"))
    cfg = LiveRunnerConfig(
        orch_url=orch.url, orch_secret=orch.secret, idle_timeout=1.5, bootstrap_max_backoff=0.3
    )
    service = LiveRunnerService(cfg, manager)
    await service.start(port=0)
    await until(lambda: service.heartbeat is not None and service.heartbeat.registered)
    async with ClientSession() as http:
        yield service, Client(orch, http)
    await service.close()
    await manager.close()


async def raw_request(
    port: int, method: str, target: str, headers: dict[str, str]
) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request with the exact request target; return (status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if method == "POST":
            lines.append("Content-Length: 2")
        writer.write(
            ("\r\n".join(lines) + "\r\n\r\n" + ("{}" if method == "POST" else "")).encode()
        )
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture
def raw_http() -> Any:
    """``await raw_http(port, method, target, headers)`` with the exact request target."""
    return raw_request
