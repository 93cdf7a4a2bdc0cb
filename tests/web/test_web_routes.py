"""The editor panel's backend routes on the standalone runner app (no ComfyUI needed):
runner settings (saved in the user directory, applied to the next stream), the aiModels.json
entry, editor graphs of saved workflows, and the test stream through the orchestrator path."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from .panel_app import Panel, serve_panel, wait_for


@pytest.fixture
async def panel(tmp_path: Path) -> AsyncIterator[Panel]:
    async with serve_panel(tmp_path) as served:
        yield served


async def test_settings_are_saved_in_the_user_dir_and_apply_to_the_runner(panel: Panel) -> None:
    status, view = await panel.call("GET", "/trickle/settings")
    assert status == 200 and view["saved"] == {} and view["sources"]["capacity"] == "default"
    status, view = await panel.call(
        "POST", "/trickle/settings", {"token": "s3cret", "model_id": "mine", "capacity": 2}
    )
    assert status == 200, view
    assert view["saved"] == {"token": "(set)", "model_id": "mine", "capacity": 2}
    assert view["effective"]["token"] == "(set)" and view["sources"]["model_id"] == "settings"
    assert "byoc_orch_url" in view["restart_required"]
    saved = json.loads((panel.root / "settings.json").read_text())
    assert saved == {"token": "s3cret", "model_id": "mine", "capacity": 2}
    status, version = await panel.call("GET", "/version")
    assert version["model_id"] == "mine"  # applied without a restart
    status, body = await panel.call("POST", "/live-video-to-video", {})
    assert status == 401, body  # the token now guards the start route
    for change in ({"token": None}, {"token": "mine-now"}, {"capacity": 1}):  # and the settings
        status, body = await panel.call("POST", "/trickle/settings", change)
        assert status == 401 and "settings.json" in body["detail"]["msg"], body
    assert json.loads((panel.root / "settings.json").read_text())["token"] == "s3cret"
    panel.token = "s3cret"
    status, view = await panel.call("POST", "/trickle/settings", {"token": None})
    assert "token" not in view["saved"] and view["effective"]["token"] == ""


@pytest.mark.parametrize(
    ("change", "field"),
    [({"capacity": 0}, "capacity"), ({"capacity": "2"}, "capacity"), ({"nope": 1}, "nope")],
)
async def test_bad_settings_are_refused_with_the_field(
    panel: Panel, change: dict[str, Any], field: str
) -> None:
    status, body = await panel.call("POST", "/trickle/settings", change)
    assert status == 422 and body["detail"]["field"] == field, body
    assert not (panel.root / "settings.json").exists()


async def test_settings_post_needs_json_content_type(panel: Panel) -> None:
    url = panel.server.url + "/trickle/settings"
    async with panel.http.post(url, data="capacity=3") as resp:
        assert resp.status == 400


async def test_setup_gives_the_ai_models_entry_for_this_host(panel: Panel) -> None:
    await panel.call(
        "POST", "/trickle/settings", {"model_id": "comfystream", "token": "Zq9-secret"}
    )
    status, body = await panel.call("GET", "/trickle/setup")
    entry = body["ai_models_entry"]
    assert entry["url"] == panel.server.url and entry["model_id"] == "comfystream"
    assert entry["pipeline"] == "live-video-to-video" and entry["warm"] is True
    assert "Zq9-secret" not in json.dumps(body)  # a placeholder, never the secret
    assert body["alternative_url"] == panel.server.url + "/trickle/runner"


async def test_editor_graphs_saved_opened_deleted(panel: Panel) -> None:
    graph = {"nodes": [{"id": 1, "type": "TrickleInput"}], "links": []}
    assert (await panel.call("POST", "/trickle/workflows-ui/mine", graph))[0] == 200
    status, body = await panel.call("GET", "/trickle/workflows-ui/mine")
    assert body == {"name": "mine", "source": "saved", "graph": graph}
    assert (panel.root / "workflows-ui" / "mine.json").is_file()
    status, body = await panel.call("GET", "/trickle/workflows-ui/blur")
    assert body["source"] == "bundled" and body["graph"]["nodes"]
    assert (await panel.call("DELETE", "/trickle/workflows-ui/mine"))[1] == {"deleted": True}
    assert (await panel.call("GET", "/trickle/workflows-ui/mine"))[0] == 400
    status, body = await panel.call("POST", "/trickle/workflows-ui/mine", {"prompt": {}})
    assert status == 422 and body["detail"]["field"] == "graph"
    assert (await panel.call("GET", "/trickle/workflows-ui/..%2Fx"))[0] == 400


async def frame_mean(panel: Panel, stream_id: str) -> float | None:
    status, data = await panel.call("GET", f"/trickle/streams/{stream_id}/frame.jpg")
    if status != 200:
        return None
    return float(jpeg_image(data)[data_rows(data) :].mean())


def jpeg_image(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data), format="image2pipe") as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24").astype(np.float32)


def data_rows(data: bytes) -> int:
    return 16  # below the test clip's barcode band


async def test_test_stream_runs_through_the_runner_and_updates_reach_it(panel: Panel) -> None:
    await panel.call("POST", "/trickle/settings", {"token": "t0k"})  # the test stream sends it
    panel.token = "t0k"  # the preview frames need it too
    body = {"seconds": 8, "width": 128, "height": 96, "fps": 15, "params": {"strength": 0}}
    status, started = await panel.call("POST", "/trickle/live-test", body)
    assert status == 200, started
    sid = started["stream_id"]

    await wait_for(lambda: sent_more_than(panel, sid, 5))
    plain = await wait_for(lambda: frame_mean(panel, sid))
    status, _ = await panel.call("POST", "/trickle/live-test/update", {"strength": 1})
    assert status == 200

    async def inverted() -> bool:
        mean = await frame_mean(panel, sid)
        return mean is not None and abs(mean - (255 - plain)) < abs(mean - plain)

    await wait_for(inverted)
    status, figures = await panel.call("POST", "/trickle/live-test/stop")
    assert status == 200 and not figures["running"] and figures["output_segments"] >= 1
    await wait_for(lambda: _health_idle(panel))
    assert (await panel.call("GET", "/trickle/live-test"))[1]["running"] is False


async def sent_more_than(panel: Panel, sid: str, frames: int) -> list[Any]:
    """The stream ``sid`` as /trickle/streams lists it once it has sent more than ``frames``."""
    listed = (await panel.call("GET", "/trickle/streams"))[1]["streams"]
    return [s for s in listed if s["stream_id"] == sid and s["frames_out"] > frames]


async def _health_idle(panel: Panel) -> bool:
    return (await panel.call("GET", "/health"))[1]["status"] == "IDLE"


async def test_test_stream_refused_by_the_runner_is_reported(panel: Panel) -> None:
    await panel.call("POST", "/trickle/settings", {"allowed_hosts": ["example.invalid"]})
    status, body = await panel.call("POST", "/trickle/live-test", {"seconds": 2})
    assert status == 400 and "refused" in body["detail"]["msg"], body
    assert (await panel.call("GET", "/trickle/live-test"))[1]["running"] is False
    status, body = await panel.call("POST", "/trickle/live-test", {"seconds": 0})
    assert status == 422


async def test_panel_routes_refuse_cross_site_requests(panel: Panel) -> None:
    """A page of another site cannot change settings, workflows or start the test stream."""
    evil = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    calls = [
        ("POST", "/trickle/settings", {"token": None}),
        ("POST", "/trickle/workflows-ui/mine", {"nodes": [], "links": []}),
        ("DELETE", "/trickle/workflows-ui/blur", None),
        ("POST", "/trickle/live-test", {"seconds": 2}),
        ("POST", "/trickle/live-test/stop", {}),
    ]
    for method, path, body in calls:
        kw: dict[str, Any] = {"headers": evil} if body is None else {"headers": evil, "json": body}
        async with panel.http.request(method, panel.server.url + path, **kw) as resp:
            answer = await resp.json()
            assert resp.status == 400 and answer["detail"]["field"] in ("Origin", "Sec-Fetch-Site")
    async with panel.http.post(
        panel.server.url + "/trickle/settings", data="capacity=3", headers={"Origin": "null"}
    ) as resp:
        assert resp.status == 400 and (await resp.json())["detail"]["field"] == "Origin"
    own = {"Origin": panel.server.url, "Sec-Fetch-Site": "same-origin"}  # the panel itself
    async with panel.http.post(
        panel.server.url + "/trickle/settings", json={"capacity": 2}, headers=own
    ) as resp:
        assert resp.status == 200, await resp.text()
    assert not (panel.root / "workflows-ui" / "mine.json").exists()


async def test_stopping_the_test_stream_is_not_an_error(panel: Panel) -> None:
    """Issue 20: a stop in the middle of a segment left "last error: input: decoder reported a
    damaged frame" (the cut segment); the test stream now ends its input between two segments."""
    body = {"seconds": 20, "width": 128, "height": 96, "fps": 15}
    status, started = await panel.call("POST", "/trickle/live-test", body)
    assert status == 200, started
    sid = started["stream_id"]

    await wait_for(lambda: sent_more_than(panel, sid, 20))
    await asyncio.sleep(0.45)  # somewhere inside a segment
    status, figures = await panel.call("POST", "/trickle/live-test/stop")
    assert status == 200 and not figures["running"], figures
    await wait_for(lambda: _health_idle(panel))
    status_view = (await panel.call("GET", "/trickle/status"))[1]
    assert status_view["last_error"] is None, status_view["last_error"]
    assert figures.get("error") is None, figures
