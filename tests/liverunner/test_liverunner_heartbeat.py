"""The heartbeat client against the orchestrator emulator: bootstrap, retry through a lockout,
interval from the orchestrator, status changes, re-registration (o2r reopened), reconciliation,
unregister, and no secret in any log line."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from trickle_live.trickle.liverunner.config import LiveRunnerConfig
from trickle_live.trickle.liverunner.heartbeat import HeartbeatClient, parse_go_duration


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lists: list[list[str]] = []
        self.status = "ready"
        self.local: list[str] = []

    async def on_event(self, event: str, session: str) -> None:
        self.events.append((event, session))

    async def on_sessions(self, ids: list[str], sent_at: float) -> None:
        self.lists.append(ids)


def make_client(orch: Any, rec: Recorder, **cfg: Any) -> HeartbeatClient:
    config = LiveRunnerConfig(
        orch_url=orch.url,
        orch_secret=orch.secret,
        bootstrap_max_backoff=0.3,
        price="0.5",
        **cfg,
    )
    return HeartbeatClient(
        config,
        "http://127.0.0.1:9/trickle-live/lr",
        status=lambda: rec.status,
        session_ids=lambda: rec.local,
        on_event=rec.on_event,
        on_sessions=rec.on_sessions,
    )


@pytest.fixture
async def started(orch: Any, caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    client = make_client(orch, rec)
    await client.start()
    yield client, rec
    await client.close()


def test_parse_go_duration() -> None:
    assert parse_go_duration("5s", 1) == 5
    assert parse_go_duration("250ms", 1) == 0.25
    assert parse_go_duration("1m0s", 1) == 60
    assert parse_go_duration("1h2m3.5s", 1) == 3723.5
    assert parse_go_duration("soon", 7) == 7
    assert parse_go_duration("5s junk", 7) == 7
    assert parse_go_duration(None, 7) == 7


async def test_bootstrap_then_heartbeats_at_the_orchestrators_interval(
    orch: Any, started: Any
) -> None:
    client, rec = started
    await until(lambda: client.registered)
    runner = orch.only_runner()
    assert client.runner_id == runner.runner_id and client.interval == pytest.approx(0.2)
    first = orch.heartbeat_bodies[0]
    assert first["app"] == "live-video-to-video/comfyui" and first["status"] == "ready"
    assert first["runner_url"] == "http://127.0.0.1:9/trickle-live/lr"
    assert first["capacity"] == 1 and first["mode"] == "persistent"
    assert first["price_info"] == {"price": 0.5, "currency": "usd", "unit": "hour"}
    assert "runner_id" not in first  # not pinned: a restart can register at once
    t0 = time.monotonic()
    await until(lambda: client.heartbeats >= 5)
    assert 0.6 < time.monotonic() - t0 < 2.5  # ~0.2 s apart, not hammering, not lagging
    assert rec.lists and all(ids == [] for ids in rec.lists)


async def test_status_change_is_sent_at_once(orch: Any, started: Any) -> None:
    client, rec = started
    await until(lambda: client.registered)
    orch.interval = 5.0  # later replies do not change the client's interval, but keep it honest
    rec.status = "loading"
    client.poke()
    await until(lambda: orch.heartbeat_bodies[-1]["status"] == "loading", timeout=1.0)
    assert orch.only_runner().body["status"] == "loading"


async def test_retries_through_a_post_restart_lockout(orch: Any) -> None:
    rec = Recorder()
    client = make_client(orch, rec)
    real, orch.secret = orch.secret, "not-yet"  # bootstraps get 401, as while a pinned id lingers
    await client.start()
    try:
        await until(lambda: client.failures >= 3)
        assert not client.registered and "401" in client.last_error
        orch.secret = real
        await until(lambda: client.registered)
        assert client.registrations == 1
    finally:
        await client.close()


async def test_reregisters_after_expiry_and_reopens_o2r(orch: Any, started: Any) -> None:
    client, rec = started
    await until(lambda: client.registered)
    old = client.runner_id
    orch.sweeping = False  # between expiry and go's sweep, heartbeats get 404
    orch.expire(old)  # the O missed our heartbeats for longer than the TTL
    await until(lambda: client.registrations == 2 and client.registered)
    assert client.runner_id != old
    assert ("POST", "/runners/heartbeat", 404) in orch.calls
    # the new o2r channel delivers: reserve a session on the new registration
    rid = client.runner_id
    reply = await post(orch, f"/apps/{rid}/session")
    await until(lambda: ("reserved", reply["session_id"]) in rec.events)
    await orch.release(rid, reply["session_id"])
    await until(lambda: ("released", reply["session_id"]) in rec.events)


async def test_reregisters_after_orchestrator_restart(orch: Any, started: Any) -> None:
    client, rec = started
    await until(lambda: client.registered)
    await orch.forget_all()  # the heartbeat secret is now unknown: the O answers 401
    await until(lambda: client.registrations == 2 and client.registered)
    assert [c for c in orch.calls if c[2] == 401]


async def test_session_ids_are_reported_and_reconciled(orch: Any, started: Any) -> None:
    client, rec = started
    await until(lambda: client.registered)
    reply = await post(orch, f"/apps/{client.runner_id}/session")
    sid = reply["session_id"]
    rec.local = [sid]
    await until(lambda: bool(rec.lists) and rec.lists[-1] == [sid])
    await until(lambda: orch.heartbeat_bodies[-1].get("session_ids") == [sid])


async def test_unregisters_on_close_and_never_logs_secrets(
    orch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    client = make_client(orch, rec)
    await client.start()
    await until(lambda: client.registered)
    runner = orch.only_runner()
    reply = await post(orch, f"/apps/{runner.runner_id}/session")
    await until(lambda: ("reserved", reply["session_id"]) in rec.events)
    await client.close()
    assert orch.runners == {}
    assert ("POST", f"/runners/{runner.runner_id}/unregister", 204) in orch.calls
    ours = [r for r in caplog.records if r.name.startswith("trickle_live.trickle.liverunner")]
    text = "\n".join(r.getMessage() for r in ours)
    for secret in (orch.secret, runner.hb_secret, runner.o2r_name, runner.hb_secret[:16]):
        assert secret not in text
    assert "registered as live runner" in text
    assert "reserved" in text


async def post(orch: Any, path: str) -> dict[str, Any]:
    from aiohttp import ClientSession

    async with ClientSession() as http, http.post(orch.url + path) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())
