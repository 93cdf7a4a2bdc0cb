"""Channel URLs are trickle channels and nothing else (issue 16 §2, issue 15 "unusable URLs"):
unusable or disallowed URLs are refused with 422 naming the field before anything is contacted,
redirects are never followed, and an input that never connects ends the stream with an error."""

from __future__ import annotations

import socket
import time
from typing import Any

import aiohttp
import pytest
from canary import Listener, redirect_to
from runner_streamkit import events_of, idle, wait_for
from trickle_live.trickle.runner.simulator import GatewayStream

GOOD = "http://127.0.0.1:9/ai/trickle/abcd1234"


def start_body(**urls: str) -> dict[str, Any]:
    body: dict[str, Any] = {"subscribe_url": GOOD, "publish_url": GOOD + "-out", "model_id": "m"}
    body.update(urls)
    return body


BAD = [
    ("subscribe_url", "http://127.0.0.1:99999/ai/trickle/x", "port"),
    ("subscribe_url", "http://127.0.0.1:abc/ai/trickle/x", "port"),
    ("subscribe_url", "http://127.0.0.1:0/ai/trickle/x", "port"),
    ("subscribe_url", "http://[::1", "host"),
    ("subscribe_url", "http://evil.example\\@127.0.0.1/ai/trickle/x", "backslash"),
    ("publish_url", "http://bad host/ai/trickle/x-out", "spaces"),
    ("publish_url", "http://user:hunter2@127.0.0.1:9/ai/trickle/x-out", "user:password"),
    ("publish_url", "http://127.0.0.1:9/ai/trickle/x-out?next=1", "query"),
    ("control_url", "http://127.0.0.1:9/ai/trickle/x-control#frag", "fragment"),
    ("events_url", "http://127.0.0.1:9/internal/webhook", "/ai/trickle/<channel>"),
    ("publish_url", "http://127.0.0.1:9/ai/trickle/a/b", "/ai/trickle/<channel>"),
    ("publish_url", "http://127.0.0.1:9/ai/trickle/../admin", "/ai/trickle/<channel>"),
]


@pytest.mark.parametrize("field,url,why", BAD, ids=[f"{f}-{w}" for f, _, w in BAD])
async def test_unusable_or_disallowed_channel_url_is_a_422_naming_the_field(
    make_runner: Any, http: aiohttp.ClientSession, field: str, url: str, why: str
) -> None:
    runner = await make_runner()
    async with http.post(runner.url + "/live-video-to-video", json=start_body(**{field: url})) as r:
        status, body = r.status, await r.json()
    assert status == 422, body
    detail = body["detail"]
    assert detail["field"] == field and why in detail["expected"], detail
    assert "hunter2" not in str(body)  # the refusal does not echo a secret
    assert runner.api.manager.started == 0 and not runner.api.manager.list()


async def test_options_allow_userinfo_query_and_any_path(
    make_runner: Any, http: aiohttp.ClientSession
) -> None:
    strict = await make_runner()
    loose = await make_runner(allow_url_userinfo=True, allow_url_query=True, channel_paths=("*",))
    prefixed = await make_runner(channel_paths=("/trickle/",))
    body = start_body(
        subscribe_url="http://u:p@127.0.0.1:9/some/where?x=1",
        publish_url="http://127.0.0.1:9/other/place#out",
    )
    for runner, expected in ((strict, 422), (loose, 200)):
        async with http.post(runner.url + "/live-video-to-video", json=body) as r:
            assert r.status == expected, await r.text()
    custom = start_body(
        subscribe_url="http://127.0.0.1:9/trickle/in", publish_url="http://127.0.0.1:9/trickle/out"
    )
    async with http.post(prefixed.url + "/live-video-to-video", json=custom) as r:
        assert r.status == 200, await r.text()
    async with http.post(prefixed.url + "/live-video-to-video", json=start_body()) as r:
        assert r.status == 422  # /ai/trickle/ is not among this runner's prefixes


async def test_a_start_body_cannot_aim_requests_at_other_routes(
    make_runner: Any, http: aiohttp.ClientSession
) -> None:
    """The request-forwarder of issue 16: nothing reaches an admin route or a webhook."""
    canary = await Listener().start()
    try:
        runner = await make_runner()
        body = start_body(
            subscribe_url=canary.url + "/internal/feed",
            publish_url=canary.url + "/internal/admin/delete-all",
            events_url=canary.url + "/internal/webhook",
        )
        for path in ("/live-video-to-video", "/stream/start"):
            async with http.post(runner.url + path, json=body) as r:
                assert r.status == 422, await r.text()
        await _settle()
        assert canary.seen == []
    finally:
        await canary.close()


async def test_redirects_are_never_followed(
    make_runner: Any, orchestrator: Any, http: aiohttp.ClientSession
) -> None:
    """An allowed host answering 307 towards another: no request reaches the other host (GET,
    POST or DELETE); the stream ends with an error event naming the redacted URL."""
    canary = await Listener().start()
    redirector = await Listener(redirect_to(f"http://localhost:{canary.port}")).start()
    channels = orchestrator.create_channels()
    gateway = GatewayStream(channels)
    gateway.start_readers(keepalives=False)
    try:
        runner = await make_runner(allowed_hosts=("127.0.0.1",))
        secret = "c0ffee5ecret"
        body = channels.start_body(None, "redirected", "m")
        body["subscribe_url"] = f"{redirector.url}/ai/trickle/{secret}"
        body["publish_url"] = f"{redirector.url}/ai/trickle/{secret}-out"
        async with http.post(runner.url + "/live-video-to-video", json=body) as r:
            assert r.status == 200, await r.text()
        await wait_for(lambda: idle(runner), 10)
        await wait_for(lambda: events_of(gateway, "error"), 5)
        await _settle()
    finally:
        await gateway.close()
        await redirector.close()
        await canary.close()
    assert canary.seen == []
    assert redirector.seen, "the runner never tried the redirecting host"
    errors = [e["message"] for e in events_of(gateway, "error")]
    assert any("redirect" in m and f"127.0.0.1:{redirector.port}" in m for m in errors), errors
    assert not any(secret in m for m in errors)
    assert "redirect" in runner.api.manager.history[-1]["stop_reason"]


async def test_an_input_that_never_connects_ends_the_stream_with_an_error_event(
    make_runner: Any, orchestrator: Any, http: aiohttp.ClientSession
) -> None:
    """Within the stall timeout (5 s), not after the 60 s input timeout."""
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    channels = orchestrator.create_channels()
    gateway = GatewayStream(channels)
    gateway.start_readers(keepalives=False)
    try:
        runner = await make_runner()
        body = channels.start_body(None, "unreachable", "m")
        body["subscribe_url"] = f"http://127.0.0.1:{dead}/ai/trickle/{channels.mid}"
        began = time.monotonic()
        async with http.post(runner.url + "/live-video-to-video", json=body) as r:
            assert r.status == 200, await r.text()
        await wait_for(lambda: idle(runner), 9)
        took = time.monotonic() - began
        await wait_for(lambda: events_of(gateway, "error"), 5)
    finally:
        await gateway.close()
    assert took < 9, took
    errors = [e["message"] for e in events_of(gateway, "error")]
    assert any("never connected" in m and f"127.0.0.1:{dead}" in m for m in errors), errors
    assert "never connected" in runner.api.manager.history[-1]["stop_reason"]


async def _settle() -> None:
    import asyncio

    await asyncio.sleep(0.5)
