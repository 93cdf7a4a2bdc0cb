"""The live-runner app end to end, driven as a client through the orchestrator emulator.

reserve → start (channels through Session-Control, internal URLs used by the runner, public ones
returned) → stream (real trickle, real PyAV, the shared StreamManager) → update → status → stop
(self-release, which closes the channels at the O), plus busy (409), every teardown signal, and
health while busy.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lr_sessions import decode, until
from trickle_live.trickle.protocol.json_channels import ControlReader
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber


async def start_session(
    service: Any, client: Any, body: Any = None
) -> tuple[str, str, dict[str, Any]]:
    reservation = await client.reserve(service.heartbeat.runner_id)
    app_url = reservation["app_url"]  # runner_url already holds the prefix
    status, reply = await client.call("POST", app_url + "/start", body or {})
    assert status == 200, reply
    assert reply["session_id"] == reservation["session_id"]
    return reservation["session_id"], app_url, reply


async def test_reserve_start_stream_update_status_stop(orch: Any, live: Any, segments: Any) -> None:
    service, client = live
    sid, app_url, reply = await start_session(
        service, client, {"params": {"strength": 1.0}, "width": 64}
    )
    for name in ("publish_url", "subscribe_url", "events_url", "control_url"):
        assert reply[name].startswith(f"http://localhost:{orch.port}/ai/trickle/{sid}-")
    assert set(reply["channels"]) == {"in", "out", "events", "control"}
    # stream: the client publishes on the public URL, the runner reads the internal one
    sent_segments = segments(4, frames=15)
    out = TrickleSubscriber(reply["subscribe_url"], start_seq=0)
    events = ControlReader(reply["events_url"], start_seq=0)
    async with TricklePublisher(reply["publish_url"]) as pub:
        for data in sent_segments:
            await pub.write_segment(data)
        first = await asyncio.wait_for(out.next_segment(), 15)
        assert first is not None
        frames = decode(await first.read_all())
        sent = decode(b"".join(sent_segments))
        assert frames and {p for p, _ in frames} <= {p for p, _ in sent}  # input pts kept
        bright = dict(sent)
        assert all(abs((255 - bright[p]) - m) < 40 for p, m in frames[-3:])  # inverted
        first_event = await asyncio.wait_for(events.__aiter__().__anext__(), 10)
        assert "event" in first_event
        assert ("127.0.0.1", "GET", f"{sid}-in") in orch.trickle_hosts
        assert ("localhost", "POST", f"{sid}-in") in orch.trickle_hosts
        # update: same parser as the control channel, answered synchronously
        status, body = await client.call("POST", app_url + "/update", {"strength": 0.5})
        assert (status, body["applied"]) == (200, {"strength": 0.5})
        status, body = await client.call("POST", app_url + "/update", {"strength": 5})
        assert status == 400 and body["detail"]["field"] == "strength"
        assert body["detail"]["received"] == 5
        status, body = await client.call("GET", app_url + "/status")
        assert status == 200 and body["session"]["state"] == "running"
        assert "/ai/trickle/" not in str(body)  # no channel URL in status
        # stop: stream stopped, the orchestrator's slot released (and so its channels closed)
        status, body = await client.call("POST", app_url + "/stop")
        assert (status, body["stopped"]) == (200, True)
    await out.close()
    await events.close()
    runner = orch.runners[service.heartbeat.runner_id]
    assert sid not in runner.sessions and not [n for n in orch.trickle.channel_names() if sid in n]
    paths = [(m, p.rsplit("/", 1)[-1], s) for m, p, s in orch.calls if p.startswith("/runner/")]
    # released once; the channels are the O's: its release closed them, we deleted none
    assert paths == [("POST", "channels", 200), ("POST", "stop", 204)]
    assert not [c for c in orch.trickle_hosts if c[1] == "DELETE" and c[0] == "127.0.0.1"]
    assert len(service.app.sessions) == 0 and service.manager.active() == []
    await start_session(service, client)  # the slot is free again


async def test_busy_is_409_and_opens_nothing(orch: Any, live: Any) -> None:
    service, client = live
    orch.register_static("two", service.runner_url, capacity=2)  # the O would allow two
    first = await client.reserve("two")
    second = await client.reserve("two")
    status, _ = await client.call("POST", first["app_url"] + "/start", {})
    assert status == 200
    status, body = await client.call("POST", second["app_url"] + "/start", {})
    assert status == 409 and "busy" in body["detail"]["msg"]
    assert not [n for n in orch.trickle.channel_names() if second["session_id"] in n]
    status, body = await client.call("POST", first["app_url"] + "/start", {})
    assert status == 409 and "already started" in body["detail"]["msg"]


async def test_released_by_the_orchestrator_ends_the_session(orch: Any, live: Any) -> None:
    service, client = live
    sid, _, _ = await start_session(service, client)
    # only the o2r signal: the channels stay open, so nothing else can end the session
    await orch.release(service.heartbeat.runner_id, sid, close_channels=False)
    await until(lambda: service.app.sessions.ended == 1, timeout=3)  # freed, then recorded
    assert service.app.sessions.history[-1]["stop_reason"] == "released by the orchestrator"
    assert service.manager.active() == []
    assert not [c for c in orch.calls if c[1].endswith(f"{sid}/stop")]  # no needless self-release


async def test_input_end_ends_and_self_releases(orch: Any, live: Any, segments: Any) -> None:
    service, client = live
    sid, _, reply = await start_session(service, client)
    async with TricklePublisher(reply["publish_url"]) as pub:
        await pub.write_segment(segments(1)[0])
    # the publisher's close DELETEs `in`: the runner sees the end and releases its slot
    await until(lambda: len(service.app.sessions) == 0)
    # the slot is freed before the release is sent (so a new reserve finds it free): wait for the O
    await until(lambda: any(p.endswith(f"{sid}/stop") and s == 204 for _, p, s in orch.calls))
    assert sid not in orch.runners[service.heartbeat.runner_id].sessions


async def test_idle_input_self_releases(orch: Any, live: Any) -> None:
    service, client = live
    sid, _, _ = await start_session(service, client)
    t0 = time.monotonic()
    await until(lambda: service.app.sessions.ended == 1)
    assert 1.0 < time.monotonic() - t0 < 6.0
    assert service.app.sessions.history[-1]["stop_reason"].startswith("no input")
    assert sid not in orch.runners[service.heartbeat.runner_id].sessions


async def test_session_missing_from_session_ids_is_stopped(orch: Any, live: Any) -> None:
    service, client = live
    sid, _, _ = await start_session(service, client)
    del orch.runners[service.heartbeat.runner_id].sessions[sid]  # the O forgot it, silently
    await until(lambda: service.app.sessions.ended == 1, timeout=3)
    assert (
        service.app.sessions.history[-1]["stop_reason"] == "not in the orchestrator's session list"
    )


async def test_heartbeat_expiry_reregisters_and_serves_again(orch: Any, live: Any) -> None:
    service, client = live
    await start_session(service, client)
    old = service.heartbeat.runner_id
    orch.expire(old)  # the O drops us and every session and channel
    await until(lambda: service.heartbeat.registrations == 2 and service.heartbeat.registered)
    await until(lambda: len(service.app.sessions) == 0)
    assert service.heartbeat.runner_id != old
    await start_session(service, client)


async def test_health_answers_fast_while_the_graph_is_busy(
    orch: Any, live: Any, segments: Any
) -> None:
    service, client = live
    sid, app_url, reply = await start_session(service, client, {"params": {"delay_ms": 400}})
    async with TricklePublisher(reply["publish_url"]) as pub:
        for data in segments(2, frames=15):
            await pub.write_segment(data)
        health = f"http://127.0.0.1:{service.site.port}{service.cfg.prefix}/health"
        for _ in range(5):
            t0 = time.monotonic()
            status, body = await client.call("GET", health)
            assert status == 200 and body["status"] in ("OK", "LOADING")
            assert time.monotonic() - t0 < 0.5
            await asyncio.sleep(0.1)
        status, _ = await client.call("POST", app_url + "/stop")
        assert status == 200


async def test_proxied_escape_reaches_no_comfyui_route(orch: Any, live: Any) -> None:
    service, client = live
    reservation = await client.reserve(service.heartbeat.runner_id)
    base = reservation["app_url"]
    for escape in ("/..%2F..%2Fprompt", "/%2e%2e/%2e%2e/prompt"):
        status, _ = await client.call("POST", base + escape, {})
        assert status == 404  # ...but our own port has no /prompt
    assert orch.proxied == ["/prompt", "/prompt"]  # go's JoinPath escapes the prefix...
