"""Channel URLs are capabilities and the token is a secret (issue 16 §1): a whole stream, with
credentials in every URL (allowed by option) and one unreachable channel that makes the runner log
warnings, leaves neither the channel names nor the userinfo nor the token in any log line, any
answer of the runner's routes or any event; preview frames need the token when one is set."""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import aiohttp
import pytest
from runner_streamkit import clip, idle, wait_for
from trickle_live.trickle.runner.simulator import GatewayStream

TOKEN = "tok-9f8e7d6c5b4a"
USERINFO = "agent:pa55w0rd-secret"


def with_userinfo(url: str, port: int | None = None) -> str:
    scheme, rest = url.split("://", 1)
    hostport, path = rest.split("/", 1)
    if port is not None:
        hostport = f"127.0.0.1:{port}"
    return f"{scheme}://{USERINFO}@{hostport}/{path}"


async def test_no_secret_in_logs_answers_or_events_of_a_whole_stream(
    make_runner: Any,
    orchestrator: Any,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:  # the control channel points at a closed port: warnings
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    runner = await make_runner("invert", token=TOKEN, allow_url_userinfo=True, status_interval=0.3)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    channels = orchestrator.create_channels()
    gateway = GatewayStream(channels)
    gateway.start_readers(keepalives=False)
    answers: list[str] = []

    async def call(method: str, path: str, **kw: Any) -> int:
        async with http.request(method, runner.url + path, **kw) as resp:
            body = await resp.read()
            if resp.content_type != "image/jpeg":
                answers.append(body.decode())
            return resp.status

    body = channels.start_body(None, "s-visible", "m")  # manifest_id = the channels' base name,
    body.update(gateway_request_id="g-visible")  # as go-livepeer's orchestrator sends it
    for name in ("subscribe_url", "publish_url", "events_url"):
        body[name] = with_userinfo(body[name])
    body["control_url"] = with_userinfo(body["control_url"], dead)
    try:
        bad_port = {**body, "subscribe_url": with_userinfo(body["subscribe_url"], 99999)}
        assert await call("POST", "/live-video-to-video", json=bad_port, headers=auth) == 422
        assert await call("POST", "/live-video-to-video", json=body, headers=auth) == 200
        await gateway.publish(clip(3.0))
        await wait_for(lambda: gateway.output.segments >= 1, 10)
        for path in ("/trickle/status", "/trickle/streams", "/health", "/trickle/frame.jpg"):
            assert await call("GET", path, headers=auth) == 200
        assert await call("GET", "/stream/status", headers=auth) == 200
        await gateway.end_input()
        await wait_for(lambda: idle(runner), 10)
        await wait_for(
            lambda: any(e.get("event", {}).get("stop_reason") for _, e in gateway.events), 5
        )
        assert await call("GET", "/trickle/status") == 200  # with "recent": the ended stream
    finally:
        await gateway.close()

    events = [json.dumps(e) for _, e in gateway.events]
    logs = [record.getMessage() for record in caplog.records]
    assert any("warning" == r.levelname.lower() for r in caplog.records)  # the dead control
    ended = json.loads(answers[-1])["recent"][-1]  # the stream is shown, its URLs redacted
    assert ended["stream_id"] == "s-visible" and "/…/" in ended["subscribe_url"]
    assert ended["manifest_id"] == channels.mid[:4] + "…"
    secrets = [
        USERINFO,
        "pa55w0rd-secret",
        TOKEN,
        channels.mid,  # the channel names: every URL here is base + mid (+ suffix)
    ]
    for where, texts in (("answer", answers), ("event", events), ("log", logs)):
        for text in texts:
            for secret in secrets:
                assert secret not in text, f"{where} shows {secret!r}: {text[:300]}"


async def test_preview_frames_need_the_token_when_one_is_set(
    make_runner: Any, http: aiohttp.ClientSession
) -> None:
    runner = await make_runner(token=TOKEN)
    for path in ("/trickle/frame.jpg", "/trickle/streams/some-stream/frame.jpg"):
        async with http.get(runner.url + path) as resp:
            assert resp.status == 401 and "token" in (await resp.json())["detail"]["msg"]
    async with http.get(
        runner.url + "/trickle/frame.jpg", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as resp:
        assert resp.status == 204  # no stream yet: nothing to show
    open_runner = await make_runner()  # no token: the preview is open (loopback by default)
    async with http.get(open_runner.url + "/trickle/frame.jpg") as resp:
        assert resp.status == 204
