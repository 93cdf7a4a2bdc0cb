"""The BYOC worker routes and self-registration (docs/runner.md, BYOC worker)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web
from runner_streamkit import clip, decode, events_of, idle, wait_for
from trickle_live.trickle.config import RunnerConfig
from trickle_live.trickle.runner.app import RunnerServer, build_app
from trickle_live.trickle.runner.simulator import GatewayStream


async def test_byoc_start_params_status_stop(
    make_runner: Any, orchestrator: Any, http: aiohttp.ClientSession
) -> None:
    runner = await make_runner("invert", token="worker-token")
    channels = orchestrator.create_channels()
    gateway = GatewayStream(channels)
    gateway.start_readers()
    headers = {"X-Stream-Id": "byoc-1", "Authorization": "Bearer worker-token"}
    body = {
        "gateway_request_id": "byoc-1",
        "control_url": channels.control,
        "events_url": channels.events,
        "subscribe_url": channels.input,
        "publish_url": channels.output,
        "params": {"strength": 1.0},
    }
    try:
        async with http.post(runner.url + "/stream/start", json=body, headers=headers) as resp:
            assert resp.status == 200 and (await resp.json())["stream_id"] == "byoc-1"
        await gateway.publish(clip(1.0))
        url = runner.url + "/trickle/byoc/stream/params"
        async with http.post(url, json={"strength": 0.0}, headers=headers) as resp:
            assert resp.status == 200 and (await resp.json())["applied"] == {"strength": 0.0}
        async with http.post(url, json={"strength": "x"}, headers=headers) as resp:
            assert resp.status == 400 and (await resp.json())["detail"]["field"] == "strength"
        await wait_for(lambda: events_of(gateway, "error"), 5)
        await gateway.publish(clip(1.0, first_index=15, start_pts=90_000))
        async with http.get(runner.url + "/stream/status", headers=headers) as resp:
            status = await resp.json()
            assert (
                resp.status == 200
                and status["stream_id"] == "byoc-1"
                and status["source"] == "byoc"
            )
        async with http.post(
            runner.url + "/stream/stop", data=b"stream ended", headers=headers
        ) as resp:
            assert resp.status == 200 and (await resp.json())["stopped"] is True
        assert idle(runner)
        async with http.post(runner.url + "/stream/stop", headers=headers) as resp:
            assert resp.status == 200 and (await resp.json())["stopped"] is False
        async with http.post(url, json={}, headers=headers) as resp:
            assert resp.status == 400 and "no such stream" in (await resp.json())["detail"]["msg"]
        await wait_for(lambda: gateway.output.end_reason is not None, 5)
    finally:
        orchestrator.close_channels(channels)
        await gateway.close()
    out = decode(gateway.output.data)
    assert out.inverted[:10] == [True] * 10 and not any(out.inverted[-8:])


class FakeOrchestrator:
    """Records /capability/register and /capability/unregister calls; checks the secret."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.calls: list[tuple[str, str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/capability/register", self.register)
        self.app.router.add_post("/capability/unregister", self.unregister)

    async def register(self, request: web.Request) -> web.Response:
        self.calls.append(
            ("register", request.headers.get("Authorization", ""), await request.json())
        )
        if request.headers.get("Authorization") != self.secret:
            return web.Response(status=400, text="invalid authorization")
        return web.Response(text="ok")

    async def unregister(self, request: web.Request) -> web.Response:
        self.calls.append(
            ("unregister", request.headers.get("Authorization", ""), await request.text())
        )
        return web.Response(text="ok")


async def test_self_registration_repeats_and_unregisters_on_exit() -> None:
    orch = FakeOrchestrator("orch-secret")
    orch_server = RunnerServer(orch.app)
    orch_url = await orch_server.start()
    config = RunnerConfig(
        byoc_orch_url=orch_url,
        byoc_orch_secret="orch-secret",
        byoc_capability="my-live",
        byoc_price=7,
        byoc_register_interval=0.2,
        token="tok",
        capacity=2,
    )
    worker = RunnerServer(build_app(config, public_url="http://127.0.0.1:1234"))
    try:
        url = await worker.start()
        await wait_for(lambda: len(orch.calls) >= 3, 5)
        kind, auth, body = orch.calls[0]
        assert (kind, auth) == ("register", "orch-secret")  # raw secret, no "Bearer"
        assert body == {
            "name": "my-live",
            "description": body["description"],
            "url": "http://127.0.0.1:1234",
            "capacity": 2,
            "price_per_unit": 7,
            "price_scaling": 1,
            "currency": "wei",
            "token": "tok",
        }
        async with aiohttp.ClientSession() as http, http.get(url + "/trickle/status") as resp:
            byoc = (await resp.json())["byoc"]
        assert byoc["registered_at"] and byoc["last_error"] is None
    finally:
        await worker.close()
        await asyncio.sleep(0)
    assert orch.calls[-1] == ("unregister", "orch-secret", "my-live")
    await orch_server.close()


async def test_registration_with_a_wrong_secret_is_retried_and_reported() -> None:
    orch = FakeOrchestrator("right")
    orch_server = RunnerServer(orch.app)
    orch_url = await orch_server.start()
    config = RunnerConfig(byoc_orch_url=orch_url, byoc_orch_secret="wrong")
    worker = RunnerServer(build_app(config, public_url="http://127.0.0.1:1"))
    try:
        await worker.start()
        await wait_for(lambda: len(orch.calls) >= 1, 5)
        await asyncio.sleep(0.1)
        registrar_status = worker.app[_mounted()].pack.sections["byoc"]()
        assert (
            "HTTP 400" in registrar_status["last_error"]
            and registrar_status["registered_at"] is None
        )
    finally:
        await worker.close()
        await orch_server.close()
    assert all(kind == "register" for kind, _, _ in orch.calls)  # never registered: no unregister


def _mounted() -> Any:
    from trickle_live.trickle.runner.app import MOUNTED_KEY

    return MOUNTED_KEY
