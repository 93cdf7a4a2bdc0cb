"""What the pack changes in a real ComfyUI's process, and when (docs/comfyui.md, "What the pack
changes in ComfyUI's process"), and how it refuses an invalid configuration at load."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ComfyUI, boot

pytestmark = pytest.mark.comfyui

COMFYUI_SWITCH_MS = 5.0  # Python's default; ComfyUI leaves it


def patches(comfy: ComfyUI) -> dict[str, Any]:
    return dict(comfy.get("/trickle/status")["comfyui"]["host_patches"])


def wait_for(
    comfy: ComfyUI, ok: Callable[[dict[str, Any]], bool], seconds: float
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    seen = patches(comfy)
    while not ok(seen) and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = patches(comfy)
    return seen


def idle(seen: dict[str, Any]) -> bool:
    return not (seen["queue_updated"] or seen["send_sync"] or seen["log_filter"])


def one_stream(comfy: ComfyUI) -> list[dict[str, Any]]:
    """A 3 s test stream (private executor, a lease); what the status showed while it ran."""
    status, _ = comfy.request(
        "POST", "/trickle/test-stream", {"workflow": "invert", "seconds": 3, "fps": 30}
    )
    assert status == 200
    during = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        during.append(patches(comfy))
        time.sleep(0.1)
    status, stats = comfy.request("POST", "/trickle/test-stream/stop")
    assert status == 200 and stats["frames_out"] > 0, stats
    return during


def test_process_changes_last_only_while_streams_run(comfyui: ComfyUI) -> None:
    before = wait_for(comfyui, idle, 20)  # an earlier test's stream has ended
    assert idle(before), before
    assert before["gc_frozen_objects"] == 0 and before["switch_interval_ms"] == COMFYUI_SWITCH_MS
    for stream in (1, 2):
        during = one_stream(comfyui)
        assert any(d["queue_updated"] and d["send_sync"] and d["log_filter"] for d in during)
        assert any(d["gc_frozen_objects"] > 0 for d in during), during
        assert any(d["switch_interval_ms"] == 1.0 for d in during), during  # a lease serving
        # one installation per stream, however often the lease was queued again meanwhile
        assert {d["installs"] for d in during if d["queue_updated"]} == {
            before["installs"] + stream
        }
        after = wait_for(comfyui, idle, 20)
        assert idle(after), after  # ComfyUI's own queue_updated / send_sync, no filter
        assert after["gc_frozen_objects"] == 0, after
        assert after["switch_interval_ms"] == COMFYUI_SWITCH_MS, after
    # ComfyUI v0.8.0's queue items have 6 fields (``sensitive``), and its IsChangedCache takes a
    # preset ``is_changed``: both found by trying, not by reading its source
    assert comfyui.get("/trickle/status")["comfyui"]["queue_item_fields"] == 6
    assert "is_changed preset in frame prompts: True" in comfyui.log()


def test_invalid_setting_is_one_error_line_and_no_stream_is_served(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """README: invalid values stop the runner at start. Inside ComfyUI: one ERROR line naming
    the variable, nothing that serves a stream (the nodes stay), status says why."""
    with boot(
        tmp_path_factory,
        "comfy-bad-config",
        skip_reason="COMFYUI_PATH is not set: this test starts a ComfyUI",
        env={"TRICKLE_EXECUTOR": "fast"},
    ) as comfy:
        said = [line for line in comfy.log().splitlines() if "TRICKLE_EXECUTOR" in line]
        assert said == [
            "trickle-live: configuration error: TRICKLE_EXECUTOR: expected private or queue,"
            " received 'fast'; no stream is served until it is fixed and ComfyUI restarted"
        ], said
        status, body = comfy.request("GET", "/trickle/status")
        assert status == 503 and body["detail"]["field"] == "TRICKLE_EXECUTOR", body
        assert body["detail"]["received"] == "fast", body
        status, _ = comfy.request("POST", "/live-video-to-video", {"stream_id": "s"})
        assert status in (404, 405)  # no runner route
        status, _ = comfy.request("POST", "/trickle/test-stream", {"workflow": "invert"})
        assert status in (404, 405)
        assert "TrickleInput" in comfy.get("/object_info/TrickleInput")
