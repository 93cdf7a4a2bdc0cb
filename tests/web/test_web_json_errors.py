"""On a host's port (ComfyUI's: no middleware of ours), the pack's own routes still answer every
bad body with JSON that a strict parser (no NaN/Infinity) accepts, 400/422 (200 where any body
is fine: stop): the runner, BYOC and pack routes, live workflows, settings, test streams and
live tests, mounted as ComfyUI mounts them (a ``RouteTableDef`` on a plain application)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from trickle_live.nodes.store import WorkflowStore
from trickle_live.routes import register_pack
from trickle_live.routes.comfy import install_json_errors
from trickle_live.routes.panel import panel_settings, register_panel
from trickle_live.trickle.config import RunnerConfig
from trickle_live.trickle.runner.api import RunnerAPI
from trickle_live.trickle.runner.routes import mount
from trickle_live.trickle.session.manager import StreamManager
from trickle_live.trickle.session.processors import processor_factory

BAD_BODIES = [
    b"{",
    b"\xff\xfe",
    b"NaN",
    b'{"strength": NaN, "name": "x"}',
    b'{"capacity": Infinity}',
    b'{"strength": 1e999}',
    b"[" * 100_000 + b"]" * 100_000,
    b"[" * 900 + b"]" * 900,
    b'{"strength": ' + b"9" * 5000 + b"}",
]


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in JSON")


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[tuple[str, list[str]]]:
    """A bare host app with the pack's routes; (base URL, the POST paths that are ours)."""
    store = WorkflowStore(tmp_path / "workflows")
    settings = panel_settings(store)
    settings.env = {}
    manager = StreamManager(RunnerConfig(), processor_factory("invert"))
    routes = web.RouteTableDef()
    mount(routes, RunnerAPI(manager), api_aliases=False)
    register_pack(routes, store, factory=lambda params, model_id: None)
    _, loopback = register_panel(routes, store, settings)

    @web.middleware
    async def host_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        return await handler(request)  # stands for ComfyUI's own middlewares

    app = web.Application(middlewares=[host_middleware])

    async def host_page(request: web.Request) -> web.Response:
        return web.Response(text="the host's")

    app.router.add_get("/host/page", host_page)
    install_json_errors(app, list(routes))  # what register_in_comfyui does
    app.add_routes(routes)
    app.router.add_static("/", tmp_path)  # ComfyUI serves its frontend from "/" (GET catch-all)
    posts = [
        r.path.replace("{stream_id}", "nope").replace("{name}", "w")
        for r in routes
        if isinstance(r, web.RouteDef) and r.method == "POST"
    ]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", posts
    finally:
        await loopback.close()
        await runner.cleanup()
        await manager.close()


async def test_our_routes_answer_bad_bodies_with_strict_json_4xx(
    host: tuple[str, list[str]],
) -> None:
    base, posts = host
    assert "/live-video-to-video" in posts and "/trickle/settings" in posts
    async with aiohttp.ClientSession() as http:
        for path in posts:
            for body in BAD_BODIES:
                headers = {"Content-Type": "application/json"}
                async with http.post(base + path, data=body, headers=headers) as resp:
                    raw = await resp.read()
                    where = (path, body[:30], resp.status, raw[:200])
                    assert resp.status in (200, 400, 401, 422), where  # stop takes any body
                    assert resp.content_type == "application/json", where
                    answer = json.loads(raw, parse_constant=_no_constant)
                    if resp.status != 200:
                        assert isinstance(answer["detail"]["msg"], str), where


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/live-video-to-video", {}),  # a wrong method on our path: aiohttp's 405 text
        ("PUT", "/trickle/settings", {}),
        ("DELETE", "/trickle/streams/nope/stop", {}),
    ],
)
async def test_our_paths_answer_aiohttp_errors_as_json_400(
    host: tuple[str, list[str]], method: str, path: str, headers: dict[str, str]
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, host[0] + path, headers=headers, json={}) as resp,
    ):
        raw = await resp.read()
        assert resp.status == 400 and resp.content_type == "application/json", raw[:200]
        assert json.loads(raw, parse_constant=_no_constant)["detail"]["msg"]


async def test_other_paths_keep_the_hosts_answers(host: tuple[str, list[str]]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(host[0] + "/host/nope") as resp:  # the host's static route
            assert resp.status == 404 and resp.content_type != "application/json"
        async with http.post(host[0] + "/host/page") as resp:
            assert resp.status == 405 and resp.content_type == "text/plain"


async def test_register_in_comfyui_installs_it_for_our_paths_and_api_twins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Through the real registration on a stand-in PromptServer, then ComfyUI's add_routes step
    (``/api`` twins, then the table, as server.py does)."""
    import sys
    import types

    from trickle_live.routes.comfy import register_in_comfyui

    monkeypatch.delenv("TRICKLE_LR_PORT", raising=False)
    server = types.SimpleNamespace(routes=web.RouteTableDef(), app=web.Application())
    module = types.ModuleType("server")
    module.PromptServer = types.SimpleNamespace(instance=server)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "server", module)
    register_in_comfyui(WorkflowStore(tmp_path / "workflows"))
    api_routes = web.RouteTableDef()
    for route in server.routes:
        if isinstance(route, web.RouteDef):
            api_routes.route(route.method, "/api" + route.path)(route.handler, **route.kwargs)
    server.app.add_routes(api_routes)
    server.app.add_routes(server.routes)
    runner = web.AppRunner(server.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/live-video-to-video", "/api/live-video-to-video", "/trickle/settings"):
                async with http.put(base + path) as resp:
                    raw = await resp.read()
                    assert resp.status == 400 and resp.content_type == "application/json", raw
            async with http.get(base + "/live-video-to-video") as resp:  # the static route's
                assert resp.status == 400 and resp.content_type == "application/json"
            async with http.get(base + "/not-ours") as resp:
                assert resp.status == 404 and resp.content_type == "text/plain"
    finally:
        await runner.cleanup()
