"""Issue 16 on ComfyUI's own port (a real ComfyUI with the pack): pages of other sites cannot
drive the pack's routes (ComfyUI's own origin check only covers a loopback ``Host``), and once a
runner token is set, changing it (or any runner setting) needs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import boot, http_call

START = {
    "subscribe_url": "http://127.0.0.1:9/ai/trickle/x",
    "publish_url": "http://127.0.0.1:9/ai/trickle/x-out",
    "model_id": "m",
}


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with boot(
        tmp_path_factory,
        "comfy-security",
        skip_reason="COMFYUI_PATH is not set: the ComfyUI security tests need a real ComfyUI",
    ) as comfy:
        yield comfy


def call(comfy: Any, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http_call(comfy.url + path, method, data, headers)


def test_cross_site_requests_are_refused_on_comfyuis_port(comfy: Any) -> None:
    port = comfy.url.rsplit(":", 1)[1]
    lan = {"Host": f"comfy.lan:{port}", "Content-Type": "application/json"}  # --listen 0.0.0.0
    refused = [
        ("/trickle/settings", {"capacity": 3}, {**lan, "Origin": "http://evil.example"}, "Origin"),
        (
            "/trickle/settings",
            {"capacity": 3},
            {**lan, "Sec-Fetch-Site": "cross-site"},
            "Sec-Fetch-Site",
        ),
        ("/live-video-to-video", START, {**lan, "Origin": "http://evil.example"}, "Origin"),
        (
            "/trickle/runner/live-video-to-video",
            START,
            {"Content-Type": "text/plain"},
            "Content-Type",
        ),
        (
            "/trickle/live-test",
            {"seconds": 1},
            {**lan, "Sec-Fetch-Site": "same-site"},
            "Sec-Fetch-Site",
        ),
    ]
    for path, body, headers, field in refused:
        got, answer = call(comfy, "POST", path, body, headers)
        assert got == 400 and answer["detail"]["field"] == field, (path, headers, answer)
    assert comfy.get("/trickle/settings")["saved"] == {}
    assert comfy.get("/trickle/status")["streams_started"] == 0
    # the panel: same-origin JSON through ComfyUI's /api prefix
    own = {"Origin": comfy.url, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}
    got, answer = call(comfy, "POST", "/api/trickle/settings", {"capacity": 2}, own)
    assert got == 200 and answer["saved"] == {"capacity": 2}, answer
    got, answer = call(comfy, "POST", "/trickle/settings", {"capacity": None}, own)
    assert got == 200 and answer["saved"] == {}, answer


def test_token_changes_need_the_token_on_comfyuis_port(comfy: Any) -> None:
    own = {"Origin": comfy.url, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}
    got, answer = call(comfy, "POST", "/trickle/settings", {"token": "s3cret"}, own)
    assert got == 200, answer
    for change in ({"token": None}, {"token": "mine"}, {"allowed_hosts": []}):
        got, answer = call(comfy, "POST", "/trickle/settings", change, own)
        assert got == 401, answer
        assert (
            "settings.json" in answer["detail"]["msg"]
            and "TRICKLE_TOKEN" in answer["detail"]["msg"]
        )
    wrong = {**own, "Authorization": "Bearer guess"}
    assert call(comfy, "POST", "/trickle/settings", {"token": None}, wrong)[0] == 401
    right = {**own, "Authorization": "Bearer s3cret"}
    got, answer = call(comfy, "POST", "/trickle/settings", {"token": None}, right)
    assert got == 200 and "token" not in answer["saved"], answer
