"""Browsers cannot drive the runner (issue 16 §3): a page of another site cannot start, stop or
update a stream — not with a ``text/plain`` form-like POST, not with a ``no-cors`` fetch — unless
it has the token; orchestrators, gateways and same-origin pages keep working."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

START = {
    "subscribe_url": "http://127.0.0.1:9/ai/trickle/x",
    "publish_url": "http://127.0.0.1:9/ai/trickle/x-out",
    "model_id": "m",
}
EVIL = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}


async def post(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], **kw: Any
) -> tuple[int, Any]:
    async with http.post(url, headers=headers, **kw) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    "path", ["/live-video-to-video", "/stream/start", "/trickle/runner/live-video-to-video"]
)
async def test_cross_site_pages_cannot_start_a_stream(
    make_runner: Any, http: aiohttp.ClientSession, path: str
) -> None:
    runner = await make_runner(capacity=3)
    text = json.dumps(START)
    url = runner.url + path
    refused = [
        ({"Origin": "http://evil.example", "Content-Type": "text/plain"}, 400, "Origin"),
        ({"Origin": "null", "Content-Type": "application/json"}, 400, "Origin"),
        (
            {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
            400,
            "Sec-Fetch-Site",
        ),
        (
            {"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"},
            400,
            "Sec-Fetch-Site",
        ),
        ({"Content-Type": "text/plain"}, 400, "Content-Type"),  # an old browser: no Origin sent
        ({"Content-Type": "application/x-www-form-urlencoded"}, 400, "Content-Type"),
    ]
    for headers, status, field in refused:
        got, body = await post(http, url, headers, data=text)
        assert (got, body["detail"]["field"]) == (status, field), (headers, body)
    assert runner.api.manager.started == 0
    # what keeps working: an orchestrator (JSON, no browser headers), a same-origin page
    own = {"Origin": runner.url, "Sec-Fetch-Site": "same-origin"}
    for headers in ({}, own, {"Origin": runner.url}):
        got, body = await post(http, url, headers, json={**START, "stream_id": f"s{len(headers)}"})
        assert got == 200, (headers, body)


async def test_the_token_lets_a_request_through_and_nothing_else_does(
    make_runner: Any, http: aiohttp.ClientSession
) -> None:
    runner = await make_runner(token="t0k")
    url = runner.url + "/live-video-to-video"
    got, body = await post(http, url, EVIL, json=START)
    assert got == 400, body  # refused before the token check: a browser learns nothing more
    got, body = await post(http, url, {**EVIL, "Authorization": "Bearer wrong"}, json=START)
    assert got == 400, body
    got, body = await post(http, url, {**EVIL, "Authorization": "Bearer t0k"}, json=START)
    assert got == 200, body


async def test_stop_and_update_refuse_cross_site_requests_byoc_stop_keeps_working(
    make_runner: Any, http: aiohttp.ClientSession
) -> None:
    runner = await make_runner()
    async with http.post(runner.url + "/stream/start", json=START, headers={"X-Stream-Id": "b1"}):
        pass
    for path in ("/trickle/streams/b1/stop", "/trickle/streams/b1/update", "/stream/params"):
        got, body = await post(http, runner.url + path, {**EVIL, "X-Stream-Id": "b1"}, json={})
        assert got == 400, (path, body)
    got, body = await post(
        http, runner.url + "/stream/stop", {**EVIL, "X-Stream-Id": "b1"}, data=b"stream ended"
    )
    assert got == 400, body
    assert [s["stream_id"] for s in runner.api.manager.list()] == ["b1"]
    # go-livepeer's BYOC stop call: a body, no Content-Type, no browser headers
    async with http.post(
        runner.url + "/stream/stop",
        data=b"stream ended",
        headers={"X-Stream-Id": "b1", "Content-Type": ""},
        skip_auto_headers=["Content-Type"],
    ) as resp:
        assert resp.status == 200 and (await resp.json())["stopped"] is True
