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
    _, live_test = register_panel(routes, store, settings)
    app = web.Application()
    app.add_routes(routes)
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
        await live_test.close()
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
