"""Root-level aliases only where the path is free (issue #5 'Loading'): registering on a
PromptServer whose route table already holds ``GET /health`` and ``POST /stream/start`` (core or
another pack) leaves those out with a warning, and ComfyUI's own ``add_routes`` step (``/api``
twins, then the table) then succeeds — a duplicate would raise and stop ComfyUI from starting."""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web


async def _other_pack(request: web.Request) -> web.Response:
    return web.json_response({"other": True})


def comfy_add_routes(app: web.Application, routes: web.RouteTableDef) -> None:
    """What ComfyUI's ``PromptServer.add_routes`` does with the route table (server.py)."""
    api_routes = web.RouteTableDef()
    for route in routes:
        if isinstance(route, web.RouteDef):
            api_routes.route(route.method, "/api" + route.path)(route.handler, **route.kwargs)
    app.add_routes(api_routes)
    app.add_routes(routes)


@pytest.fixture
def prompt_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("TRICKLE_LR_PORT", raising=False)
    server = types.SimpleNamespace(routes=web.RouteTableDef(), app=web.Application())
    server.routes.get("/health")(_other_pack)
    server.routes.post("/stream/start")(_other_pack)
    module = types.ModuleType("server")
    module.PromptServer = types.SimpleNamespace(instance=server)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "server", module)
    yield server


def test_taken_root_paths_are_skipped_with_a_warning(
    prompt_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from trickle_live.nodes.store import WorkflowStore
    from trickle_live.routes.comfy import register_in_comfyui

    with caplog.at_level(logging.WARNING, logger="trickle_live.routes.comfy"):
        register_in_comfyui(WorkflowStore(tmp_path / "workflows"))
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "GET /health is already registered" in warned
    assert "POST /stream/start is already registered" in warned
    table = [(r.method, r.path, r.handler) for r in prompt_server.routes]
    assert [h for m, p, h in table if (m, p) == ("GET", "/health")] == [_other_pack]
    paths = {(m, p) for m, p, _ in table}
    assert ("GET", "/trickle/runner/health") in paths  # the prefixed route is still there
    assert ("POST", "/trickle/byoc/stream/start") in paths
    assert ("GET", "/version") in paths and ("POST", "/live-video-to-video") in paths  # free
    comfy_add_routes(prompt_server.app, prompt_server.routes)  # would raise on a duplicate


def test_the_same_table_without_the_check_would_stop_comfyui() -> None:
    """The control: a second ``GET /health`` right after the first is what kills start-up."""
    routes = web.RouteTableDef()
    routes.get("/health")(_other_pack)
    routes.get("/health")(_other_pack)
    with pytest.raises(RuntimeError, match="already registered"):
        comfy_add_routes(web.Application(), routes)
