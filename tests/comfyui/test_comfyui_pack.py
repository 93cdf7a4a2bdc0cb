"""The pack inside a real ComfyUI: it loads, its nodes and routes are there, its workflows validate,
and the driver runs workflows once per frame through ComfyUI's own queue (local test stream)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from trickle_live.trickle.session.workflow_spec import BUNDLED_DIR, EXAMPLES_DIR

pytestmark = pytest.mark.comfyui

ROOT = Path(__file__).resolve().parents[2]
NODES = {
    "TrickleInput": "trickle",
    "TrickleOutput": "trickle",
    "TrickleParamText": "trickle/parameters",
    "TrickleParamFloat": "trickle/parameters",
    "TrickleParamInt": "trickle/parameters",
    "TrickleParamSeed": "trickle/parameters",
    "TrickleParamBoolean": "trickle/parameters",
}
WORKFLOWS = sorted(p.name[: -len(".api.json")] for p in BUNDLED_DIR.glob("*.api.json"))


def test_pack_loads_without_import_error(comfyui) -> None:
    log = comfyui.log()
    pack_lines = [line for line in log.splitlines() if "trickle-live" in line]
    assert not [line for line in pack_lines if "IMPORT FAILED" in line], pack_lines
    assert "routes are unavailable" not in log and "registering the HTTP routes failed" not in log
    assert "Cannot import" not in "\n".join(pack_lines)


def test_comfyui_starts_without_any_traceback(comfyui) -> None:
    """A newcomer's ComfyUI (made by scripts/setup-comfyui.sh) starts clean: no IMPORT FAILED for
    any node file (ComfyUI's audio nodes need the torchaudio of the installed torch) and no
    traceback anywhere in the start-up log."""
    log = comfyui.log()
    assert "IMPORT FAILED" not in log, [
        line for line in log.splitlines() if "IMPORT FAILED" in line
    ]
    assert "Traceback" not in log, log[log.index("Traceback") - 500 : log.index("Traceback") + 1500]


def test_nodes_in_object_info_with_descriptions_and_tooltips(comfyui) -> None:
    info = comfyui.get("/object_info")
    for name, category in NODES.items():
        node = info[name]
        assert node["category"] == category
        assert node["description"], name
        inputs = {**node["input"].get("required", {}), **node["input"].get("optional", {})}
        assert all(spec[1].get("tooltip") for spec in inputs.values()), name
        assert all(node["output_tooltips"]), name
    assert info["TrickleOutput"]["output_node"] is True


def test_runner_routes_answer_inside_comfyui(comfyui) -> None:
    for path in ("/health", "/api/health", "/trickle/runner/health"):
        assert comfyui.get(path) == {"status": "IDLE"}
    version = comfyui.get("/version")
    assert version["pipeline"] == "live-video-to-video" and version["model_id"]
    assert "comfyui" in comfyui.get("/trickle/status")


@pytest.mark.parametrize("name", WORKFLOWS)
def test_bundled_workflow_validates_in_comfyui(comfyui, name: str) -> None:
    api = json.loads((BUNDLED_DIR / f"{name}.api.json").read_text())
    ui = json.loads((EXAMPLES_DIR / f"{name}.json").read_text())
    info = comfyui.get("/object_info")
    assert {n["class_type"] for n in api.values()} <= set(info)
    assert sorted(n["type"] for n in ui["nodes"]) == sorted(n["class_type"] for n in api.values())
    ui_links = {(str(a), sa, str(b)) for _, a, sa, b, _, _ in ui["links"]}
    api_links = {
        (v[0], v[1], nid)
        for nid, n in api.items()
        for v in n["inputs"].values()
        if isinstance(v, list)
    }
    assert ui_links == api_links
    saved = f"check-{name}"
    status, body = comfyui.request("POST", f"/trickle/workflows/{saved}", api)  # validates
    assert status == 200, body
    assert comfyui.request("DELETE", f"/trickle/workflows/{saved}") == (200, {"deleted": True})


def test_invalid_workflow_is_refused_with_the_field(comfyui) -> None:
    api = json.loads((BUNDLED_DIR / "blur.api.json").read_text())
    api["2"]["inputs"]["value"] = "wide"  # TrickleParamInt value must be an INT
    status, body = comfyui.request("POST", "/trickle/workflows/bad-blur", api)
    assert status == 422 and "2.value" in body["detail"]["msg"], body
    status, body = comfyui.request(
        "POST", "/trickle/workflows/bad", {**api, "9": {"class_type": "Nope", "inputs": {}}}
    )
    assert status == 422 and "Nope" in body["detail"]["msg"], body


def test_saved_workflow_lives_in_the_user_directory(comfyui) -> None:
    api = json.loads((BUNDLED_DIR / "invert.api.json").read_text())
    status, _ = comfyui.request(
        "POST", "/trickle/workflows/my-live", {"workflow": api, "default": True}
    )
    assert status == 200
    try:
        assert (
            comfyui.base / "user" / "default" / "trickle-live" / "workflows" / "my-live.json"
        ).is_file()
        assert not (EXAMPLES_DIR / "my-live.json").exists()
        assert not (BUNDLED_DIR / "my-live.api.json").exists()
        assert comfyui.get("/trickle/default-workflow") == {"name": "my-live"}
        assert (
            comfyui.get("/trickle/workflows/my-live")["workflow"]["2"]["class_type"]
            == "ImageInvert"
        )
    finally:
        comfyui.request("DELETE", "/trickle/workflows/my-live")
    assert comfyui.get("/trickle/default-workflow") == {"name": None}


@pytest.mark.parametrize("name", ["passthrough", "invert"])
def test_local_test_stream_one_output_per_frame(comfyui, name: str) -> None:
    status, stats = comfyui.request(
        "POST", "/trickle/test-stream", {"workflow": name, "seconds": 2, "fps": 30, "wait": True}
    )
    assert status == 200, stats
    assert stats["frames_in"] == 60
    assert stats["frames_out"] + stats["dropped_in"] == 60, stats
    assert stats["frames_out"] >= 45 and stats["duplicates"] == 0, stats
    assert stats["pts_ok"] and stats["in_order"], stats
    assert not [e for e in stats["events"] if e["type"] == "error"], stats["events"]


def test_test_stream_update_and_bad_update(comfyui) -> None:
    status, _ = comfyui.request(
        "POST", "/trickle/test-stream", {"workflow": "blur", "seconds": 4, "fps": 20}
    )
    assert status == 200
    time.sleep(1.0)
    status, body = comfyui.request("POST", "/trickle/test-stream/update", {"radius": 9})
    assert status == 200 and body["applied"] == {"2": {"value": 9}}, body
    status, body = comfyui.request("POST", "/trickle/test-stream/update", {"radius": 99})
    assert status == 422 and "radius" in body["detail"]["msg"] and "99" in body["detail"]["msg"]
    status, body = comfyui.request("POST", "/trickle/test-stream/update", {"nope": 1})
    assert status == 422 and "nope" in body["detail"]["msg"]
    status, stats = comfyui.request("POST", "/trickle/test-stream/stop")
    assert status == 200 and stats["frames_out"] > 0 and stats["duplicates"] == 0


def test_editor_prompt_without_stream_previews_test_pattern(comfyui) -> None:
    api = json.loads((BUNDLED_DIR / "invert.api.json").read_text())
    prompt_id = str(uuid.uuid4())
    status, body = comfyui.request("POST", "/prompt", {"prompt": api, "prompt_id": prompt_id})
    assert status == 200, body
    entry = _wait_history(comfyui, prompt_id)
    assert entry["status"]["status_str"] == "success", entry["status"]
    images = entry["outputs"]["3"]["images"]
    assert images and images[0]["type"] == "temp"


def _wait_history(comfyui, prompt_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = comfyui.get(f"/history/{prompt_id}")
        if prompt_id in history:
            return history[prompt_id]
        time.sleep(0.1)
    raise AssertionError(f"prompt {prompt_id} did not finish in {timeout}s")
