"""Every answer of the standalone runner is JSON a strict parser accepts, 400/401/422/500 only.

aiohttp's own answers (404, 405, 417, malformed requests), bad JSON bodies of many shapes, deep
nesting, huge integers, invalid ``Content-Encoding`` and non-finite numbers: each is the caller's
mistake and gets a JSON 400 or 422 ``{"detail": {"msg": ...}}`` that Go's ``encoding/json`` (no
``NaN``, no ``Infinity``) decodes; no event on the events channel carries a non-finite number.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from runner_streamkit import clip, end_stream, events_of, open_stream, wait_for
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber

from ..raw_http import exchange

ALLOWED = {400, 401, 422, 500}
START = {
    "subscribe_url": "http://127.0.0.1:9/ai/trickle/x",
    "publish_url": "http://127.0.0.1:9/ai/trickle/x-out",
}


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in JSON")


def strict(text: str | bytes) -> Any:
    """Parse as Go's encoding/json would: NaN/Infinity are not JSON."""
    return json.loads(text, parse_constant=_no_constant)


def assert_json_error(status: int, ctype: str, body: bytes, allowed: set[int]) -> dict[str, Any]:
    assert status in allowed, (status, body[:200])
    assert ctype.startswith("application/json"), (status, ctype, body[:200])
    detail = strict(body)["detail"]
    assert isinstance(detail["msg"], str) and detail["msg"]
    return dict(detail)


async def raw(port: int, data: bytes) -> tuple[int, str, bytes]:
    """Send bytes as they are; return (status, content type, body) of the one answer."""
    head, body = await exchange(port, data)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if any(k.lower() == "transfer-encoding" for k in headers):  # chunked: the one chunk
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return int(lines[0].split()[1]), ctype, body


def port_of(runner: Any) -> int:
    return int(runner.url.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/no-such-route", {}),  # aiohttp: 404 text
        ("GET", "/trickle/no-such-route", {}),
        ("GET", "/live-video-to-video", {}),  # aiohttp: 405 text
        ("PUT", "/health", {}),
        ("DELETE", "/stream/start", {}),
        ("POST", "/live-video-to-video", {"Expect": "bogus"}),  # aiohttp: 417 text
        ("POST", "/stream/start", {"Expect": "bogus"}),
    ],
)
async def test_aiohttp_own_answers_are_json_400(
    runner: Any, http: aiohttp.ClientSession, method: str, path: str, headers: dict[str, str]
) -> None:
    async with http.request(method, runner.url + path, headers=headers, json=START) as resp:
        body = await resp.read()
        assert_json_error(resp.status, resp.headers.get("Content-Type", ""), body, {400})


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"BOGUS\r\n\r\n",  # not a request line
        b"GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
        b"POST /live-video-to-video HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /live-video-to-video HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Content-Length: 3\r\n\r\n{}",
        b"POST /live-video-to-video HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n{}\r\n0\r\n\r\n",  # a chunk size that is not hex
        b"POST /live-video-to-video HTTP/1.1\r\nHost: x\r\nExpect: bogus\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
    ],
)
async def test_malformed_requests_get_json_400(runner: Any, request_bytes: bytes) -> None:
    status, ctype, body = await raw(port_of(runner), request_bytes)
    assert_json_error(status, ctype, body, {400})


BAD_BODIES = [
    b"{",
    b"nul",
    b"[1,]",
    b"{'single': 'quotes'}",
    b'{"a": 1} trailing',
    b"\xff\xfe{}",
    b'{"a": "\xff"}',
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b'{"params": {"strength": NaN}}',
    b'{"subscribe_url": Infinity, "publish_url": -Infinity}',
    b'{"params": {"strength": 1e400}}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"[" * 900 + b"]" * 900,
    b"1" * 5000,
    b'{"params": {"strength": ' + b"9" * 5000 + b"}}",
    b'"a string"',
    b"[]",
    b"null",
    b"true",
    b"0",
    b'{"params": []}',
    b'{"params": "{not json"}',
    b'{"params": "NaN"}',
]
BODY_ROUTES = [
    "/live-video-to-video",
    "/stream/start",
    "/stream/params",
    "/trickle/streams/nope/update",
]


async def test_bad_bodies_get_json_4xx(runner: Any, http: aiohttp.ClientSession) -> None:
    for path, body in ((path, body) for path in BODY_ROUTES for body in BAD_BODIES):
        headers = {"Content-Type": "application/json", "X-Stream-Id": "nope"}
        async with http.post(runner.url + path, data=body, headers=headers) as resp:
            text = await resp.read()
            assert resp.status in (400, 422), (path, body[:40], resp.status, text[:200])
            assert_json_error(resp.status, resp.headers.get("Content-Type", ""), text, {400, 422})
    assert runner.api.manager.list() == []


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_invalid_content_encoding_gets_json_400(
    runner: Any, http: aiohttp.ClientSession, encoding: str
) -> None:
    for path in BODY_ROUTES:
        headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
        async with http.post(runner.url + path, data=b"not compressed", headers=headers) as resp:
            text = await resp.read()
            detail = assert_json_error(
                resp.status, resp.headers.get("Content-Type", ""), text, {400}
            )
            if path in ("/live-video-to-video", "/stream/start"):  # they read the body first
                assert "body" in detail["msg"], detail
    async with http.get(runner.url + "/health") as resp:  # the runner is fine afterwards
        assert resp.status == 200


async def test_non_finite_numbers_never_reach_events_or_answers(
    make_runner: Any, orchestrator: Any, http: aiohttp.ClientSession
) -> None:
    """Control messages with NaN/Infinity (what Python's json writes by default): every event on
    the events channel and every status answer parses with a strict parser."""
    runner = await make_runner("invert", status_interval=0.3)
    gateway, channels, status, _, _ = await open_stream(orchestrator, runner.url)
    assert status == 200
    bodies: list[bytes] = []

    async def read_raw_events() -> None:
        async with TrickleSubscriber(channels.events, start_seq=0) as sub:
            async for segment in sub:
                bodies.append(await segment.read_all(1 << 20))

    reader = asyncio.create_task(read_raw_events())
    try:
        await gateway.publish(clip(1.0))
        for update in (
            {"strength": float("nan")},
            {"strength": float("inf")},
            {"delay_ms": float("-inf")},
            {"max_framerate": float("nan")},
        ):
            await gateway.send_control(update)
        await wait_for(lambda: len(events_of(gateway, "error")) >= 1, 5)
        count = len(events_of(gateway, "status"))
        await wait_for(lambda: len(events_of(gateway, "status")) >= count + 2, 5)
        async with http.get(runner.url + "/trickle/status") as resp:
            strict(await resp.read())
        async with http.get(runner.url + "/stream/status", headers={"X-Stream-Id": ""}) as resp:
            strict(await resp.read())
    finally:
        await end_stream(orchestrator, channels, gateway, runner, 10)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    assert len(bodies) >= 3
    for body in bodies:
        strict(body)
    errors = [strict(b) for b in bodies if b'"error"' in b]
    assert errors, "an invalid update is reported"
