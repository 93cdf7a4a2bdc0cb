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

import sys
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

from ..raw_http import raw_request

sys.path.insert(0, str(Path(__file__).parent))  # the emulator module beside this file
from lr_emulator import running_emulator  # noqa: E402
from lr_sessions import call, until  # noqa: E402


@pytest.fixture
async def orch() -> Any:
    async with running_emulator() as emulator:
        yield emulator


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


class Client:
    """What a live-runner client does (the SDK's reserve_session / post_json, by hand)."""

    def __init__(self, orch: Any, http: ClientSession) -> None:
        self.orch, self.http = orch, http

    async def reserve(self, route: str) -> dict[str, Any]:
        async with self.http.post(f"{self.orch.url}/apps/{route}/session") as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    async def call(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        return await call(self.http, method, url, body)


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


@pytest.fixture
def raw_http() -> Any:
    """``await raw_http(port, method, target, headers)`` with the exact request target."""
    return raw_request
