"""The live-runner app's own port answers only JSON ``{"detail": {"msg": ...}}``, aiohttp's own
answers (404, 405, 417, malformed requests) and bad bodies included, with no non-finite number.

aiohttp's status is kept here (the live-runner contract has 404 and 409); the body is JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from trickle_live.trickle.config import RunnerConfig
from trickle_live.trickle.liverunner.config import LiveRunnerConfig
from trickle_live.trickle.liverunner.service import LiveRunnerService
from trickle_live.trickle.session.manager import StreamManager
from trickle_live.trickle.session.processors import processor_factory

from ..raw_http import exchange


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in JSON")


def check_json_error(status: int, ctype: str, body: bytes, expected: int) -> dict[str, Any]:
    assert status == expected, (status, body[:200])
    assert ctype.startswith("application/json"), (status, ctype, body[:200])
    detail = json.loads(body, parse_constant=_no_constant)["detail"]
    assert isinstance(detail["msg"], str) and detail["msg"]
    return dict(detail)


@pytest.fixture
async def app_url() -> AsyncIterator[tuple[str, int]]:
    """The app on its own loopback port, without an orchestrator: (base URL with prefix, port)."""
    manager = StreamManager(RunnerConfig(), processor_factory("invert"))
    service = LiveRunnerService(LiveRunnerConfig(), manager)
    await service.start(port=0)
    assert service.site is not None
    port = service.site.port
    try:
        yield f"http://127.0.0.1:{port}{service.cfg.prefix}", port
    finally:
        await service.close()
        await manager.close()


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/nope", {}, 404),
        ("GET", "/start", {}, 405),
        ("PUT", "/health", {}, 405),
        ("POST", "/update", {"Expect": "bogus"}, 417),
        ("POST", "/start", {"Expect": "bogus"}, 417),
    ],
)
async def test_aiohttp_own_answers_are_json(
    app_url: tuple[str, int], method: str, path: str, headers: dict[str, str], status: int
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, app_url[0] + path, headers=headers, json={}) as resp,
    ):
        body = await resp.read()
        check_json_error(resp.status, resp.headers.get("Content-Type", ""), body, status)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"BOGUS\r\n\r\n",
        b"GET /trickle-live/lr/health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"POST /trickle-live/lr/update HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    ],
)
async def test_malformed_requests_get_json_400(
    app_url: tuple[str, int], request_bytes: bytes
) -> None:
    head, body = await exchange(app_url[1], request_bytes)
    lines = head.decode("latin-1").split("\r\n")
    ctype = next(
        (ln.split(": ", 1)[1] for ln in lines if ln.lower().startswith("content-type")), ""
    )
    check_json_error(int(lines[0].split()[1]), ctype, body, 400)


BAD_BODIES = [
    b"{",
    b"\xff\xfe",
    b"NaN",
    b'{"strength": NaN}',
    b'{"strength": -Infinity}',
    b'{"strength": 1e999}',
    b"[" * 100_000 + b"]" * 100_000,
    b"[" * 900 + b"]" * 900,
    b'{"strength": ' + b"9" * 5000 + b"}",
]


async def test_bad_bodies_get_json_400(app_url: tuple[str, int]) -> None:
    # /start parses its body right after the session headers (nothing is called before that);
    # /update checks the session and its token first, so an unknown session is 404 there
    headers = {
        "Content-Type": "application/json",
        "Livepeer-Session-Id": "s1",
        "Livepeer-Session-Token": "t1",
        "Livepeer-Session-Control": "http://127.0.0.1:9/runner/r/session/s1",
    }
    async with aiohttp.ClientSession() as http:
        for body in BAD_BODIES:
            async with http.post(app_url[0] + "/start", data=body, headers=headers) as resp:
                text = await resp.read()
                detail = check_json_error(
                    resp.status, resp.headers.get("Content-Type", ""), text, 400
                )
                assert detail["field"] == "body", detail
        bad_gzip = {**headers, "Content-Encoding": "gzip"}
        async with http.post(app_url[0] + "/start", data=b"not gzip", headers=bad_gzip) as resp:
            text = await resp.read()
            check_json_error(resp.status, resp.headers.get("Content-Type", ""), text, 400)
        async with http.get(app_url[0] + "/health") as resp:
            assert resp.status == 200
