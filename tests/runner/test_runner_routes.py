"""The runner, BYOC and pack routes on a bare aiohttp app: shapes, auth, validation, limits.

The runner contract's route shapes (docs/runner.md): /health JSON before anything else, /version and /hardware shapes,
errors only as 400/401/422/500 JSON ``{"detail": {"msg": ...}}`` — never 503, never text.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from trickle_live.trickle.config import RunnerConfig

ALLOWED = {200, 204, 400, 401, 422, 500}


async def fetch(
    http: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, str, Any]:
    async with http.request(method, url, **kw) as resp:
        text = await resp.text()
        body = json.loads(text) if "json" in resp.headers.get("Content-Type", "") else text
        return resp.status, resp.headers.get("Content-Type", ""), body


@pytest.mark.parametrize("prefix", ["", "/trickle/runner"])
async def test_startup_probes(runner: Any, http: aiohttp.ClientSession, prefix: str) -> None:
    base = runner.url + prefix
    status, ctype, body = await fetch(http, "GET", base + "/health")
    assert (status, body) == (200, {"status": "IDLE"}) and ctype.startswith("application/json")
    status, _, body = await fetch(http, "GET", base + "/version")
    assert status == 200
    assert body["pipeline"] == "live-video-to-video" and body["model_id"] == "comfystream"
    assert body["version"].count(".") == 2
    _, _, info = await fetch(http, "GET", base + "/hardware/info")
    _, _, stats = await fetch(http, "GET", base + "/hardware/stats")
    assert isinstance(info["gpu_info"], dict) and isinstance(stats["gpu_stats"], dict)
    assert info["pipeline"] == "live-video-to-video" and stats["model_id"] == "comfystream"
    _, _, status_page = await fetch(http, "GET", runner.url + "/trickle/status")
    assert prefix + "/health" in status_page["probes"]
    assert status_page["probes"][prefix + "/health"]["answer"] == {"status": "IDLE"}


async def test_model_id_is_configurable(make_runner: Any, http: aiohttp.ClientSession) -> None:
    server = await make_runner(model_id="streamdiffusion")
    _, _, body = await fetch(http, "GET", server.url + "/version")
    assert body["model_id"] == "streamdiffusion"


START = {
    "subscribe_url": "http://127.0.0.1:9/ai/trickle/x",
    "publish_url": "http://127.0.0.1:9/ai/trickle/x-out",
}


@pytest.mark.parametrize(
    ("kw", "status", "needle"),
    [
        ({"data": b"{not json"}, 400, "invalid JSON"),
        ({"data": b""}, 400, "empty body"),
        ({"json": [1, 2]}, 422, "body"),
        ({"json": {"publish_url": START["publish_url"]}}, 422, "subscribe_url"),
        ({"json": {**START, "params": "nope"}}, 422, "params"),
        ({"json": {**START, "subscribe_url": "file:///etc/passwd"}}, 422, "subscribe_url"),
        ({"data": b"{" + b" " * (5 << 20) + b"}"}, 400, "too large"),
    ],
)
async def test_bad_start_requests(
    runner: Any, http: aiohttp.ClientSession, kw: dict[str, Any], status: int, needle: str
) -> None:
    got, ctype, body = await fetch(http, "POST", runner.url + "/live-video-to-video", **kw)
    assert got == status and ctype.startswith("application/json")
    assert needle in body["detail"]["msg"]
    _, _, health = await fetch(http, "GET", runner.url + "/health")
    assert health == {"status": "IDLE"}


async def test_validation_errors_name_field_expected_received(
    runner: Any, http: aiohttp.ClientSession
) -> None:
    bad = {**START, "publish_url": 42}
    status, _, body = await fetch(http, "POST", runner.url + "/live-video-to-video", json=bad)
    assert status == 422
    assert body["detail"]["field"] == "publish_url" and body["detail"]["received"] == 42
    assert "URL" in body["detail"]["expected"]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/live-video-to-video", "POST"),
        ("/trickle/runner/live-video-to-video", "POST"),
        ("/stream/start", "POST"),
        ("/stream/params", "POST"),
        ("/stream/stop", "POST"),
        ("/stream/status", "GET"),
        ("/trickle/streams/x/stop", "POST"),
    ],
)
async def test_token_is_required_when_configured(
    make_runner: Any, http: aiohttp.ClientSession, path: str, method: str
) -> None:
    server = await make_runner(token="s3cret")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        status, ctype, body = await fetch(
            http, method, server.url + path, json=START, headers=headers
        )
        assert status == 401 and ctype.startswith("application/json"), (path, headers)
        assert "token" in body["detail"]["msg"]
    ok = {"Authorization": "Bearer s3cret"}
    status, _, _ = await fetch(http, method, server.url + path, json={}, headers=ok)
    assert status != 401
    status, _, _ = await fetch(http, "GET", server.url + "/health")  # probes stay open
    assert status == 200


async def test_no_route_answers_outside_the_allowed_statuses(
    runner: Any, http: aiohttp.ClientSession
) -> None:
    api = runner.api
    specs = runner.app[_mounted_key()].registered
    assert ("GET", "/health") in specs and ("POST", "/trickle/byoc/stream/start") in specs
    for method, path in specs:
        url = runner.url + path.replace("{stream_id}", "nope")
        for kw in ({}, {"data": b"\xff\xfe"}, {"json": {"x": 1}}):
            status, ctype, _ = await fetch(http, method, url, **kw)
            assert status in ALLOWED, (method, path, kw, status)
            if status != 200 or path.endswith(".jpg"):
                assert status == 204 or ctype.startswith("application/json"), (method, path)
    assert api.manager.health() == "IDLE"


def _mounted_key() -> Any:
    from trickle_live.trickle.runner.app import MOUNTED_KEY

    return MOUNTED_KEY


def test_mount_on_a_route_table_with_taken_paths() -> None:
    from trickle_live.trickle.runner.api import RunnerAPI
    from trickle_live.trickle.runner.routes import mount, route_specs
    from trickle_live.trickle.session.manager import StreamManager
    from trickle_live.trickle.session.processors import processor_factory

    config = RunnerConfig()
    api = RunnerAPI(StreamManager(config, processor_factory("passthrough")))
    table = web.RouteTableDef()
    taken = {("GET", "/health"), ("POST", "/stream/start")}
    mounted = mount(table, api, skip=lambda method, path: (method, path) in taken)
    assert set(mounted.skipped) == taken
    paths = {(r.method, r.path) for r in table if isinstance(r, web.RouteDef)}
    assert ("GET", "/trickle/runner/health") in paths and ("GET", "/health") not in paths
    assert ("POST", "/trickle/byoc/stream/start") in paths
    specs, _, _ = route_specs(api, root_aliases=False)
    assert all(spec.path.startswith("/trickle/") for spec in specs)
    assert not any(spec.alias for spec in specs)
    prefixed, _, _ = route_specs(api, prefix="/x", root_aliases=False)
    assert all(spec.path.startswith("/x/trickle/") for spec in prefixed)
