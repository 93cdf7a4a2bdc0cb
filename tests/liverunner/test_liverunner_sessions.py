"""Session lifecycle as a real orchestrator runs it all day: every ending releases the session.

Against the emulator's go-livepeer answers (500 "Invalid stream" for a channel already closed, 204
for a client stop, 404 for an unknown session): sessions back to back on a capacity-1 runner, each
ended by a different path, none left reserved (a leak shows as the next reserve's 503); the
release retried over transport errors and told (error event, log, status) when it fails for good;
shutdown releases; the session token is enforced on every session-scoped call; two concurrent
sessions with different parameters do not touch each other. The same driver runs the CLI runner
(``python -m trickle runner --live-runner-port``) for 50 sessions, and a real ComfyUI
(``tests/comfyui/test_comfyui_lr_sessions.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from trickle_live.trickle.config import RunnerConfig
from trickle_live.trickle.liverunner import sessions as lr_sessions_module
from trickle_live.trickle.liverunner.config import LiveRunnerConfig
from trickle_live.trickle.liverunner.service import LiveRunnerService
from trickle_live.trickle.protocol.json_channels import ControlReader
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.session.manager import StreamManager
from trickle_live.trickle.session.processors import processor_factory

sys.path.insert(0, str(Path(__file__).parent))
from lr_sessions import ENDINGS, call, serve_one, start_cli_runner, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "/trickle-live/lr"


async def make_service(orch: Any, capacity: int = 1, dynamic: bool = True) -> LiveRunnerService:
    manager = StreamManager(
        RunnerConfig(status_interval=0.5, capacity=capacity), processor_factory("invert")
    )
    cfg = LiveRunnerConfig(
        orch_url=orch.url if dynamic else "",
        orch_secret=orch.secret if dynamic else "",
        idle_timeout=1.0,
        capacity=capacity,
        bootstrap_max_backoff=0.3,
    )
    service = LiveRunnerService(cfg, manager)
    await service.start(port=0)
    if dynamic:
        await wait_until(
            lambda: service.heartbeat is not None and service.heartbeat.registered, 8, "registered"
        )
    return service


async def close_service(service: LiveRunnerService) -> None:
    await service.close()
    await service.manager.close()


def assert_nothing_leaked(orch: Any, runner: Any, served: int) -> None:
    """``runner``: the emulator's record (kept: an unregistered runner leaves ``orch.runners``)."""
    assert orch.leaked() == [] and not runner.sessions
    assert (runner.reserved, runner.released) == (served, served)
    channel_calls = [c for c in orch.calls if c[1].endswith("/channels") and c[0] == "DELETE"]
    assert channel_calls == []  # the O's release closes the channels; we never delete them
    assert not [c for c in orch.calls if c[1].startswith("/runner/") and c[2] >= 500]


async def test_sessions_back_to_back_every_ending_released(orch: Any, segments: Any) -> None:
    """Two sessions per ending path on a capacity-1 dynamic runner; each one is reserved (no 503),
    streamed, updated and released. Failed on the main of 2026-12-06 at the second reserve (503):
    the first stop's channel DELETE got 500 and /stop was never sent."""
    service = await make_service(orch)
    route = service.heartbeat.runner_id if service.heartbeat else ""
    data = segments(12, frames=15)
    record = orch.runners[route]
    try:
        async with ClientSession() as http:
            for i in range(2 * len(ENDINGS)):
                ending = ENDINGS[i % len(ENDINGS)]
                done = await serve_one(
                    http, orch, route, ending, data, update={"strength": 0.25 * (i % 4)}
                )
                assert done.frames and done.update["applied"] == {"strength": 0.25 * (i % 4)}
                await wait_until(lambda n=i + 1: service.app.sessions.ended == n, 10, "ended")
        history = service.app.sessions.history
        assert [h["released"] for h in history if h["stop_reason"]]  # recorded per session
        assert service.app.sessions.release_failures == 0
    finally:
        await close_service(service)
    assert_nothing_leaked(orch, record, 2 * len(ENDINGS))


async def test_release_retried_over_transport_errors(orch: Any, segments: Any) -> None:
    service = await make_service(orch)
    route = service.heartbeat.runner_id if service.heartbeat else ""
    orch.drop_stops = 2  # the first two /stop calls: connection closed, no answer
    try:
        async with ClientSession() as http:
            await serve_one(http, orch, route, "client_stop", segments(12, frames=15))
            assert orch.stop_attempts == 3
            assert service.app.sessions.history[-1]["released"] == "released"
            # the slot is free at the O again
            await serve_one(http, orch, route, "client_stop", segments(12, frames=15))
    finally:
        await close_service(service)
    assert orch.leaked() == []


async def test_release_failure_is_told(
    orch: Any, segments: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release the O keeps refusing: an ERROR line, an ``error`` event on the session's events
    channel, and the count and message in the status API. Never silent."""
    monkeypatch.setattr(lr_sessions_module, "RELEASE_BACKOFF", (0.05, 0.05))
    service = await make_service(orch)
    route = service.heartbeat.runner_id if service.heartbeat else ""
    orch.refuse_stops = 503
    try:
        async with ClientSession() as http:
            reservation = await (await http.post(f"{orch.url}/apps/{route}/session")).json()
            sid, app_url = reservation["session_id"], reservation["app_url"]
            status, reply = await call(http, "POST", app_url + "/start", {})
            assert status == 200, reply
            events = ControlReader(reply["events_url"], start_seq=0)

            async def release_error() -> dict[str, Any]:
                async for message in events:  # read as a gateway does, from before the stop
                    event = message.get("event", {})
                    if event.get("type") == "error" and "releasing session" in event["message"]:
                        return dict(event)
                raise AssertionError("events ended without the release error")

            reading = asyncio.create_task(release_error())
            with caplog.at_level(logging.ERROR, logger="trickle_live.trickle.liverunner"):
                status, body = await call(http, "POST", app_url + "/stop")
            assert (status, body["released"]) == (200, "failed")
            assert orch.stop_attempts == 3  # first try + two retries
            found = await asyncio.wait_for(reading, 10)
            await events.close()
            assert found["source"] == "live-runner" and sid in found["message"]
            lines = [r for r in caplog.records if "releasing session" in r.getMessage()]
            assert lines and lines[0].levelno == logging.ERROR
            section = service.status()
            assert section["release_failures"] == 1 and sid in section["last_error"]
            orch.refuse_stops = None
            await call(http, "POST", reservation["control_url"] + "/stop")  # the operator's fix
    finally:
        await close_service(service)


async def test_shutdown_releases_running_sessions(orch: Any, segments: Any) -> None:
    """SIGTERM / ComfyUI exit both end in ``service.close()``: running sessions are released.
    Static registration: no unregister call would release them for us."""
    service = await make_service(orch, capacity=2, dynamic=False)
    route = "static"
    orch.register_static(route, service.runner_url, capacity=2)
    async with ClientSession() as http:
        for _ in range(2):
            reservation = await (await http.post(f"{orch.url}/apps/{route}/session")).json()
            status, reply = await call(http, "POST", reservation["app_url"] + "/start", {})
            assert status == 200, reply
            async with TricklePublisher(reply["publish_url"]) as pub:
                await pub.write_segment(segments(12, frames=15)[0])
                break  # one streaming, one only started
    assert len(orch.leaked()) >= 1
    await close_service(service)
    assert orch.leaked() == []


async def test_busy_refusal_gives_the_slot_back(orch: Any) -> None:
    """The O allows two, we serve one: the refused session cannot run here, so it is released at
    the O instead of holding its slot forever."""
    service = await make_service(orch, dynamic=False)
    orch.register_static("two", service.runner_url, capacity=2)
    try:
        async with ClientSession() as http:
            first = await (await http.post(f"{orch.url}/apps/two/session")).json()
            second = await (await http.post(f"{orch.url}/apps/two/session")).json()
            assert (await call(http, "POST", first["app_url"] + "/start", {}))[0] == 200
            status, body = await call(http, "POST", second["app_url"] + "/start", {})
            assert status == 409 and "busy" in body["detail"]["msg"]
            assert orch.leaked() == [first["session_id"]]
    finally:
        await close_service(service)
    assert orch.leaked() == []


async def test_session_token_enforced(orch: Any) -> None:
    """update/stop/status with a session id need that session's token: 403 JSON otherwise, 404
    JSON for an unknown session. Failed on the main of 2026-12-06: any token was obeyed (200)."""
    service = await make_service(orch, dynamic=False)
    orch.register_static("lr", service.runner_url)
    base = f"http://127.0.0.1:{service.site.port if service.site else 0}{PREFIX}"
    try:
        async with ClientSession() as http:
            reservation = await (await http.post(f"{orch.url}/apps/lr/session")).json()
            sid = reservation["session_id"]
            assert (await call(http, "POST", reservation["app_url"] + "/start", {}))[0] == 200
            control = f"{orch.url}/runner/lr/session/{sid}"
            for token in ("wrong-token", ""):
                headers = {"Livepeer-Session-Id": sid, "Livepeer-Session-Control": control}
                if token:
                    headers["Livepeer-Session-Token"] = token
                for method, path, body in (
                    ("POST", "/update", {"strength": 0.1}),
                    ("POST", "/stop", None),
                    ("GET", "/status", None),
                ):
                    async with http.request(
                        method, base + path, json=body, headers=headers
                    ) as resp:
                        assert resp.status == 403, (method, path, token, resp.status)
                        reply = await resp.json()
                        assert reply["detail"]["field"] == "Livepeer-Session-Token"
                        assert "wrong-token" not in json.dumps(reply)
            assert sid in service.app.sessions  # nothing was obeyed
            unknown = {"Livepeer-Session-Id": "session_nope", "Livepeer-Session-Token": "x"}
            for method, path in (("POST", "/update"), ("GET", "/status")):
                async with http.request(method, base + path, json={}, headers=unknown) as resp:
                    assert (
                        resp.status == 404
                        and "session_nope" in (await resp.json())["detail"]["msg"]
                    )
            # the real token (through the O) is obeyed
            status, _ = await call(
                http, "POST", reservation["app_url"] + "/update", {"strength": 0}
            )
            assert status == 200
    finally:
        await close_service(service)


async def test_two_concurrent_sessions_do_not_touch(orch: Any, segments: Any) -> None:
    service = await make_service(orch, capacity=2)
    route = service.heartbeat.runner_id if service.heartbeat else ""
    data = segments(12, frames=15)
    sent = {}
    try:
        async with ClientSession() as http:

            async def one(strength: float, ending: str) -> Any:
                return await serve_one(
                    http, orch, route, ending, data,
                    start_body={"params": {"strength": strength}},
                )  # fmt: skip

            inverted, plain = await asyncio.gather(one(1.0, "client_stop"), one(0.0, "input_end"))
            from lr_sessions import decode

            sent = dict(decode(b"".join(data)))
            assert all(abs((255 - sent[p]) - m) < 40 for p, m in inverted.frames[-3:])
            assert all(abs(sent[p] - m) < 40 for p, m in plain.frames[-3:])
            assert inverted.session_id != plain.session_id
            # updates go to one session only
            a = await (await http.post(f"{orch.url}/apps/{route}/session")).json()
            b = await (await http.post(f"{orch.url}/apps/{route}/session")).json()
            for r, s in ((a, 0.2), (b, 0.7)):
                body = {"params": {"strength": s}}
                assert (await call(http, "POST", r["app_url"] + "/start", body))[0] == 200
            assert (await call(http, "POST", a["app_url"] + "/update", {"strength": 0.9}))[0] == 200
            status_a = (await call(http, "GET", a["app_url"] + "/status"))[1]
            status_b = (await call(http, "GET", b["app_url"] + "/status"))[1]
            assert status_a["session"]["session_id"] == a["session_id"]
            assert status_b["session"]["session_id"] == b["session_id"]
            streams = {s.stream_id: s for s in service.manager.active()}
            assert streams[a["session_id"]].processor.strength == 0.9
            assert streams[b["session_id"]].processor.strength == 0.7
            for r in (a, b):
                assert (await call(http, "POST", r["app_url"] + "/stop"))[0] == 200
    finally:
        await close_service(service)
    assert orch.leaked() == []


@pytest.mark.slow
async def test_cli_runner_serves_fifty_sessions_back_to_back(orch: Any, segments: Any) -> None:
    """``python -m trickle runner --live-runner-port 0`` registered statically: 50 sessions in a
    row, ten per ending path, not one 503, nothing left reserved at the O."""
    proc, runner_url = await start_cli_runner(
        {"TRICKLE_LR_IDLE_TIMEOUT": "1", "TRICKLE_LR_CAPACITY": "1"}
    )
    try:
        orch.register_static("cli", runner_url)
        data = segments(12, frames=15)
        started = time.monotonic()
        async with ClientSession() as http:
            for i in range(50):
                await serve_one(
                    http,
                    orch,
                    "cli",
                    ENDINGS[i % len(ENDINGS)],
                    data,
                    update={"strength": 0.5},
                    pace=0.2,
                )
        elapsed = time.monotonic() - started
        async with ClientSession() as http:
            status, body = await call(http, "GET", runner_url + "/status")
        assert status == 200 and body["sessions"] == [] and body["release_failures"] == 0
        print(f"50 sessions back to back in {elapsed:.1f}s")
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
        assert proc.stderr is not None
        log_tail = (await proc.stderr.read()).decode(errors="replace")[-3000:]
        print(log_tail)
    assert proc.returncode == 0
    assert_nothing_leaked(orch, orch.runners["cli"], 50)


async def test_cli_runner_sigterm_releases_the_running_session(orch: Any, segments: Any) -> None:
    """SIGTERM to ``python -m trickle runner`` with a session streaming: released at the O
    before the process exits (0). Passed on a7eb603 too, by timing (its channel delete ran before
    the stream's own trickle DELETEs); it guards the path. ComfyUI's twin failed there."""
    proc, runner_url = await start_cli_runner()
    orch.register_static("cli", runner_url)
    async with ClientSession() as http:
        reservation = await (await http.post(f"{orch.url}/apps/cli/session")).json()
        status, reply = await call(http, "POST", reservation["app_url"] + "/start", {})
        assert status == 200, reply
        pub = TricklePublisher(reply["publish_url"])
        for data in segments(4, frames=15):
            await pub.write_segment(data)
        assert orch.leaked() == [reservation["session_id"]]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        await pub.close(delete=False)
    assert orch.leaked() == [] and orch.runners["cli"].released == 1


async def test_a_browser_cannot_drive_the_live_runner_port(orch: Any) -> None:
    """The port approves no CORS preflight, and a simple cross-site POST (no custom headers, as a
    page can send) lacks the session headers: refused before anything is called."""
    service = await make_service(orch, dynamic=False)
    base = f"http://127.0.0.1:{service.site.port if service.site else 0}{PREFIX}"
    try:
        async with ClientSession() as http:
            preflight = {
                "Origin": "http://evil.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "livepeer-session-id,livepeer-session-token",
            }
            async with http.options(base + "/start", headers=preflight) as resp:
                assert "Access-Control-Allow-Origin" not in resp.headers
                assert resp.status >= 400
            simple = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
            async with http.post(base + "/start", data="{}", headers=simple) as resp:
                assert resp.status == 400
                assert (await resp.json())["detail"]["field"] == "Livepeer-Session-Id"
        assert orch.calls == [] and len(service.app.sessions) == 0
    finally:
        await close_service(service)
