"""Parameter updates reach the stream's processor identically, whatever door they come through:
the control channel (lv2v gateways), ``/stream/params`` (BYOC orchestrators), the ``/stream/update``
and ``/api/stream/*`` spellings of the docs, and the pack's own update route; in every shape users
were told about (a whole workflow, a node-id → inputs map, flat named values)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from compat_graphs import PRIMARY_INVERT, TENSOR_PASSTHROUGH
from compat_kit import post
from runner_streamkit import open_stream, wait_for
from trickle_live.trickle.errors import ValidationError
from trickle_live.trickle.session.processors import PassthroughProcessor

SHAPES: list[dict[str, Any]] = [
    {"prompt": PRIMARY_INVERT},  # the whole workflow (ai-runner's comfyui convention)
    {"prompts": [TENSOR_PASSTHROUGH]},  # ComfyStream's BYOC shape
    {"9": {"strength": 0.5}, "7": {"seed": 3}},  # node id -> inputs (the seed docs page)
    {"strength": 0.25, "prompt": "a cat"},  # flat named values (pytrickle docs)
]
HTTP_DOORS = ["/stream/params", "/stream/update", "/api/stream/params", "/api/stream/update"]


class Recorder(PassthroughProcessor):
    """Passes frames through and keeps every update it is given; ``bad`` is refused."""

    seen: list[dict[str, Any]] = []

    async def update(self, params: dict[str, Any]) -> dict[str, Any]:
        if "bad" in params:
            raise ValidationError("bad", "a value this processor knows", params["bad"])
        self.seen.append(params)
        return {"echo": params}


@pytest.fixture
async def stream(make_runner: Any, orchestrator: Any) -> Any:
    Recorder.seen = []
    runner = await make_runner(lambda request: Recorder())
    gateway, channels, status, _, _ = await open_stream(orchestrator, runner.url, None)
    assert status == 200
    await wait_for(lambda: runner.api.manager.health() == "OK", 5)
    yield runner, gateway, f"stream-{channels.mid}"
    await runner.api.manager.stop(f"stream-{channels.mid}")
    await gateway.close()


async def test_every_door_delivers_every_shape_unchanged(
    stream: Any, http: aiohttp.ClientSession
) -> None:
    runner, gateway, stream_id = stream
    expected: list[dict[str, Any]] = []
    for shape in SHAPES:
        await gateway.send_control({"keep": "alive"})
        await gateway.send_control(shape)
        expected.append(shape)
        await wait_for(lambda: len(Recorder.seen) == len(expected), 5)
        for door in HTTP_DOORS:
            status, body = await post(
                http, runner.url + door, shape, headers={"X-Stream-Id": stream_id}
            )
            assert (status, body) == (200, {"status": "success", "applied": {"echo": shape}})
            expected.append(shape)
        status, body = await post(http, f"{runner.url}/trickle/streams/{stream_id}/update", shape)
        assert (status, body) == (200, {"applied": {"echo": shape}})
        expected.append(shape)
    assert Recorder.seen == expected  # keepalives never reached the processor


async def test_a_refused_update_names_the_field_on_every_door(
    stream: Any, http: aiohttp.ClientSession
) -> None:
    runner, gateway, stream_id = stream
    urls = [runner.url + door for door in HTTP_DOORS]
    urls.append(f"{runner.url}/trickle/streams/{stream_id}/update")
    for url in urls:
        status, body = await post(http, url, {"bad": 7}, headers={"X-Stream-Id": stream_id})
        assert status == 400, (url, body)
        assert (body["detail"]["field"], body["detail"]["received"]) == ("bad", 7)
    await gateway.send_control({"bad": 8})
    errors: list[dict[str, Any]] = []

    def refused() -> bool:
        errors[:] = [e["event"] for _, e in gateway.events if e["event"].get("type") == "error"]
        return any(e.get("received") == 8 for e in errors)

    await wait_for(refused, 15)  # the control channel has no reply: an error event instead
    assert all(e["field"] == "bad" and "bad" in e["message"] for e in errors)
    assert len(errors) == len(urls) + 1 and Recorder.seen == []
    assert runner.api.manager.health() == "OK"  # the stream goes on


async def test_an_update_body_may_be_json_text(stream: Any, http: aiohttp.ClientSession) -> None:
    runner, _, stream_id = stream
    async with http.post(
        runner.url + "/stream/params",
        data='"{\\"strength\\": 0.75}"',  # a JSON string holding the object (pytrickle clients)
        headers={"X-Stream-Id": stream_id, "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 200, await resp.text()
    await asyncio.sleep(0)
    assert Recorder.seen == [{"strength": 0.75}]
