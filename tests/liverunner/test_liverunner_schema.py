"""The live runner advertises what a gateway needs to build a UI without reading the graph.

``GET {app_url}/schema`` (through the O's proxy) and the registration ``metadata`` (public, at most
1024 bytes, sent in every heartbeat and in the static ``runners.json``) carry the live
parameters (name, type, default, range), the workflow and the picture; an update naming an
unknown parameter or a value out of range is a 4xx naming the field. The ComfyUI side (parameters
from the Live parameter nodes of the live workflow) is in ``tests/comfyui``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from trickle_live.nodes.graph import param_schema
from trickle_live.trickle.config import RunnerConfig
from trickle_live.trickle.liverunner.config import LiveRunnerConfig
from trickle_live.trickle.liverunner.registration import metadata
from trickle_live.trickle.liverunner.service import LiveRunnerService
from trickle_live.trickle.session.manager import StreamManager
from trickle_live.trickle.session.processors import processor_factory, processor_schema
from trickle_live.trickle.session.workflow_spec import BUNDLED_DIR

sys.path.insert(0, str(Path(__file__).parent))
from lr_sessions import call, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


async def test_schema_route_metadata_and_update_checks(orch: Any) -> None:
    manager = StreamManager(RunnerConfig(status_interval=0.5), processor_factory("invert"))
    cfg = LiveRunnerConfig(
        orch_url=orch.url, orch_secret=orch.secret, width=64, height=48, fps=24,
        bootstrap_max_backoff=0.3,
    )  # fmt: skip
    schema = processor_schema("invert")
    service = LiveRunnerService(cfg, manager, describe=lambda: schema)
    await service.start(port=0)
    try:
        await wait_until(
            lambda: service.heartbeat is not None and service.heartbeat.registered, 8, "reg"
        )
        # the metadata of the registration: public facts and the parameters, within 1024 bytes
        body = orch.heartbeat_bodies[-1]
        facts = json.loads(body["metadata"])
        assert len(body["metadata"].encode()) <= 1024
        assert facts["params"] == {"delay_ms": ["float", 0.0, 0.0, 1000.0],
                                   "strength": ["float", 1.0, 0.0, 1.0]}  # fmt: skip
        assert (facts["width"], facts["height"], facts["fps"], facts["workflow"]) == (
            64,
            48,
            24,
            "invert",
        )
        static = service.registration()["runners_json"]["runners"][0]
        assert json.loads(static["metadata"]) == facts
        route = service.heartbeat.runner_id if service.heartbeat else ""
        async with ClientSession() as http:
            reservation = await (await http.post(f"{orch.url}/apps/{route}/session")).json()
            app_url = reservation["app_url"]
            status, described = await call(http, "GET", app_url + "/schema")
            assert status == 200, described
            assert described["params"] == schema["params"]
            assert described["video"] == {"width": 64, "height": 48, "fps": 24}
            assert described["app"] == "live-video-to-video/comfyui"
            # a start without a size gets the configured picture
            status, reply = await call(http, "POST", app_url + "/start", {})
            assert status == 200, reply
            (stream,) = manager.active()
            assert stream.shape.as_dict() == {"width": 64, "height": 48, "max_framerate": 24.0}
            # updates: unknown name and out of range are refused naming the field
            status, body = await call(http, "POST", app_url + "/update", {"strenght": 0.5})
            assert status == 400 and body["detail"]["field"] == "strenght"
            assert "strength" in body["detail"]["expected"]
            status, body = await call(http, "POST", app_url + "/update", {"strength": 2})
            assert status == 400 and body["detail"]["field"] == "strength"
            status, body = await call(
                http, "POST", app_url + "/update", {"strength": 0.5, "keep": "alive"}
            )
            assert status == 200 and body["applied"] == {"strength": 0.5}
            assert (await call(http, "POST", app_url + "/stop"))[0] == 200
    finally:
        await service.close()
        await manager.close()


def test_metadata_keeps_names_when_the_full_schema_is_too_big() -> None:
    params = [
        {
            "name": f"p{i:02d}_a_long_parameter_name",
            "type": "float",
            "default": 0.5,
            "min": 0,
            "max": 1,
        }
        for i in range(25)
    ]
    text = metadata(LiveRunnerConfig(), {"workflow": "big", "params": params})
    facts = json.loads(text)
    assert len(text.encode()) <= 1024
    assert facts["params"] == sorted(p["name"] for p in params)  # bounds dropped, names kept
    assert facts["schema"] == "/schema"


def test_param_schema_from_the_live_parameter_nodes() -> None:
    blur = json.loads((BUNDLED_DIR / "blur.api.json").read_text())
    assert param_schema(blur) == [
        {"name": "radius", "type": "int", "default": 4, "min": 1, "max": 31},
        {"name": "sigma", "type": "float", "default": 2.0, "min": 0.1, "max": 10.0},
    ]
    seed = {"1": {"class_type": "TrickleParamSeed", "inputs": {"name": "seed", "value": 7}}}
    assert param_schema(seed) == [
        {"name": "seed", "type": "seed", "default": 7, "min": 0, "max": 2**64 - 1}
    ]
