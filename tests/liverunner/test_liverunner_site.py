"""The live-runner site (its own port) serves only the app API: no ComfyUI route, whatever the path."""

from __future__ import annotations

from typing import Any

import pytest
from trickle_live.trickle.config import RunnerConfig
from trickle_live.trickle.liverunner.config import LiveRunnerConfig
from trickle_live.trickle.liverunner.service import LiveRunnerService
from trickle_live.trickle.session.manager import StreamManager
from trickle_live.trickle.session.processors import PassthroughProcessor

ESCAPES = [
    "/prompt",
    "/api/prompt",
    "/upload/image",
    "/view?filename=x",
    "/",
    "/trickle-live/lr/..%2F..%2Fprompt",
    "/trickle-live/lr/%2e%2e/%2e%2e/prompt",
    "/trickle-live/lr/../prompt",
    "/trickle-live/lr/../../prompt",
]
PROXY = {"Livepeer-Runner-Route": "runner_abc", "Livepeer-Session-Id": "session_x"}


@pytest.fixture
async def live_site() -> Any:
    manager = StreamManager(RunnerConfig(), lambda request: PassthroughProcessor())
    service = LiveRunnerService(LiveRunnerConfig(), manager)
    await service.start(port=0)
    yield service
    await service.close()
    await manager.close()


@pytest.mark.parametrize("target", ESCAPES)
async def test_live_runner_site_serves_only_its_own_routes(
    live_site: Any, raw_http: Any, target: str
) -> None:
    port = live_site.site.port
    for method in ("GET", "POST"):
        status, _ = await raw_http(port, method, target, PROXY)
        assert status in (404, 405), (method, target, status)


async def test_live_runner_site_routes_are_the_app_api_only(live_site: Any, raw_http: Any) -> None:
    app = live_site.site.app
    paths = sorted({r.canonical for r in app.router.resources()})
    prefix = live_site.cfg.prefix
    assert paths == sorted(
        f"{prefix}/{name}" for name in ("health", "schema", "start", "status", "stop", "update")
    )
    status, body = await raw_http(live_site.site.port, "GET", f"{prefix}/health", {})
    assert status == 200 and b'"status": "IDLE"' in body
