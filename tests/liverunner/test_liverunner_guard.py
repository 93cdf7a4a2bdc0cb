"""The guard on ComfyUI's port, and the live-runner site serving only its own routes.

go-livepeer's proxy joins ``runner_url``'s path with the client's app path, so ``..%2F`` and
``%2e%2e/`` escape any prefix (go's ``url.JoinPath`` cleans the decoded path; docs/liverunner.md). The guard decides on
the headers the orchestrator always sets, never on the path. Raw request lines are sent over a socket so no client normalises the paths.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from trickle_live.trickle.liverunner.guard import proxied_request_guard

ESCAPES = [
    "/prompt",
    "/api/prompt",
    "/upload/image",
    "/trickle-live/lr/..%2F..%2Fprompt",
    "/trickle-live/lr/%2e%2e/%2e%2e/prompt",
    "/trickle-live/lr/%2E%2E%2F%2E%2E%2Fprompt",
    "/trickle-live/lr/../../prompt",
    "/trickle-live/lr/..%2f..%2fapi/prompt",
]
PROXY_HEADERS = [
    {"Livepeer-Runner-Route": "runner_abc", "Livepeer-Session-Id": "session_x"},
    {"livepeer-session-id": "session_x"},
    {"LIVEPEER-RUNNER-ROUTE": "label"},
    {"Livepeer-Session-Id": ""},
]


def comfyui_like_app(hits: list[str]) -> web.Application:
    """ComfyUI's dangerous routes, as a bare app with the guard outermost (what routes/ installs)."""
    app = web.Application()
    app.middlewares.insert(0, proxied_request_guard())

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"ran": request.path})

    for path in ("/prompt", "/api/prompt", "/upload/image"):
        app.router.add_route("*", path, handler)
    return app


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


@pytest.fixture
async def comfy() -> Any:
    hits: list[str] = []
    runner, port = await serve(comfyui_like_app(hits))
    yield port, hits
    await runner.cleanup()


@pytest.mark.parametrize("target", ESCAPES)
@pytest.mark.parametrize("headers", PROXY_HEADERS)
async def test_guard_refuses_proxied_requests_on_any_path(
    comfy: Any, raw_http: Any, target: str, headers: dict[str, str]
) -> None:
    port, hits = comfy
    for method in ("GET", "POST"):
        status, body = await raw_http(port, method, target, headers)
        assert status == 403, (method, target, body)
        assert b"live-runner traffic is not served on this port" in body
    assert hits == []


async def test_guard_lets_ordinary_comfyui_traffic_through(comfy: Any, raw_http: Any) -> None:
    port, hits = comfy
    for target in ("/prompt", "/upload/image"):
        status, body = await raw_http(port, "POST", target, {"X-Other": "1"})
        assert status == 200 and target.encode() in body
    assert hits == ["/prompt", "/upload/image"]
