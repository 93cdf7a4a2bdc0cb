"""The Trickle Live panel in real headless Chromium against a real ComfyUI with the pack:
it opens (nothing logged), saving the graph makes it the live workflow, a test stream runs through
the runner and its preview changes, and a live parameter control changes the output.
Screenshots go to $TRICKLE_SCREENSHOTS (the README's are made with TRICKLE_SCREENSHOTS=docs/img),
else to a temporary folder, so a test run never changes tracked files. The tests share one page
and run in order."""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .web_page import load_blur, open_editor, wait_until

pytestmark = pytest.mark.comfyui

ROOT = Path(__file__).resolve().parents[2]
IMG = Path(os.environ.get("TRICKLE_SCREENSHOTS") or tempfile.gettempdir() + "/trickle-live-screens")
PANEL = "[data-testid=trickle-live-panel]"

# The preview image's RGBA pixels as `d` (its size: c.width, c.height); null without a frame.
PREVIEW_PIXELS = """
  const img = document.querySelector('[data-testid=preview]');
  if (!img || !img.src || !img.naturalWidth) return null;
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
"""

# The share of horizontally adjacent pixel pairs that differ by more than 24 (edges: a sharpness
# figure; the test clip's barcode and colour wraps are hard edges, a strong blur removes them),
# and a short fingerprint of its pixels; null until the preview has a frame.
PREVIEW_FIGURES = (
    "() => {"
    + PREVIEW_PIXELS
    + """  let sum = 0, n = 0, print = 0;
  for (let y = 0; y < c.height; y += 1) for (let x = 1; x < c.width; x += 1) {
    const i = (y * c.width + x) * 4;
    sum += Math.max(Math.abs(d[i] - d[i - 4]), Math.abs(d[i + 1] - d[i - 3])) > 24 ? 1 : 0;
    n += 1;
    print = (print * 31 + d[i] + d[i + 1] * 7) % 1000000007;
  }
  return {sharpness: sum / n, print, frames: Number(img.dataset.frames || 0),
          width: c.width, height: c.height};
}"""
)


def shot(page: Any, name: str) -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / name))


def test_panel_opens_and_logs_nothing(comfy_web: Any, browser_page: Any) -> None:
    page = browser_page
    open_editor(comfy_web, page)  # a fresh user directory: no first-run templates dialog
    load_blur(page, test_seconds=40, preview_fps=4)
    page.click(".trickle-live-tab-button")
    page.wait_for_selector(f"{PANEL} [data-testid=runner-state].tl-state-IDLE")
    entry = json.loads(page.inner_text("[data-testid=ai-models-entry]"))
    assert entry["url"] == comfy_web.url and entry["pipeline"] == "live-video-to-video"
    page.wait_for_selector("[data-testid=params] [data-param=radius]")
    assert page.locator("[data-testid=workflow-list] [data-workflow=blur]").count() == 1
    ours = [text for url, text in page.console_lines if "trickle-live" in url]
    assert ours == [], ours  # nothing logged on load
    assert page.errors == []
    shot(page, "panel.png")


def test_saving_the_graph_makes_it_the_live_workflow(comfy_web: Any, browser_page: Any) -> None:
    page = browser_page
    page.fill("[data-testid=workflow-name]", "blur-live")
    page.check("[data-testid=workflow-default]")
    page.click("[data-testid=save-workflow]")
    page.wait_for_selector("[data-testid=workflow-list] [data-workflow=blur-live]")
    listed = comfy_web.get("/trickle/workflows")
    assert listed["default"] == "blur-live" and "blur-live" in listed["saved"]
    saved = comfy_web.get("/trickle/workflows/blur-live")["workflow"]
    expected = page.evaluate("async () => (await app.graphToPrompt()).output")
    assert saved == expected  # exactly the frontend's own API-format conversion
    graph = comfy_web.get("/trickle/workflows-ui/blur-live")["graph"]
    assert sorted(n["type"] for n in graph["nodes"]) == sorted(
        n["class_type"] for n in saved.values()
    )
    assert "blur-live" in page.inner_text("[data-testid=default-workflow]")


def preview(page: Any) -> dict[str, Any] | None:
    return page.evaluate(PREVIEW_FIGURES)


def test_test_stream_runs_and_the_preview_changes(comfy_web: Any, browser_page: Any) -> None:
    page = browser_page
    page.select_option("[data-testid=test-source]", "live")  # the saved default: blur-live
    page.click("[data-testid=test-start]")
    first = wait_until(lambda: preview(page), 60, "a first preview frame")
    status = comfy_web.get("/trickle/status")
    (stream,) = status["streams"]
    assert stream["stream_id"].startswith("editor-test-") and stream["source"] == "runner"
    driver = status["comfyui"]["streams"][stream["stream_id"]]
    assert "blur-live" in driver["source"], driver  # the saved default live workflow runs
    later = wait_until(
        lambda: (p := preview(page)) and p["frames"] > first["frames"] + 2
        and p["print"] != first["print"] and p,
        30,
        "the preview to change",
    )  # fmt: skip
    assert (later["width"], later["height"]) == (256, 256)
    wait_until(
        lambda: "fps in/out" in page.inner_text("[data-testid=test-figures]"), 10, "the figures"
    )
    assert page.locator(f"[data-testid=streams] [data-stream='{stream['stream_id']}']").count()
    shot(page, "test-stream.png")


def set_param(page: Any, name: str, value: float) -> None:
    page.locator(f"[data-testid=params] [data-param={name}]").evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('change')); }", str(value)
    )


def settled_sharpness(page: Any, seconds: float = 2.5) -> float:
    time.sleep(seconds)  # updates apply between two frames; let the preview catch up
    values = []
    for _ in range(4):
        figures = preview(page)
        assert figures is not None
        values.append(figures["sharpness"])
        time.sleep(0.3)
    return sorted(values)[len(values) // 2]


def test_a_parameter_control_changes_the_output(comfy_web: Any, browser_page: Any) -> None:
    page = browser_page
    set_param(page, "radius", 1)
    set_param(page, "sigma", 0.1)
    sharp = settled_sharpness(page)
    set_param(page, "radius", 31)
    set_param(page, "sigma", 10)
    blurred = settled_sharpness(page)
    hint = page.inner_text("[data-testid=params-section]")
    assert "radius" in hint and blurred < 0.5 * sharp, (sharp, blurred, hint)
    page.locator("[data-testid=params-section]").scroll_into_view_if_needed()
    shot(page, "live-parameters.png")
    page.click("[data-testid=test-stop]")
    wait_until(
        lambda: comfy_web.get("/health")["status"] == "IDLE", 20, "the runner to be idle again"
    )
    wait_until(
        lambda: not comfy_web.get("/trickle/live-test")["running"], 10, "the test stream's end"
    )
    assert page.errors == []


PREVIEW_MEAN = (
    "() => {"
    + PREVIEW_PIXELS
    + """  let sum = 0;
  for (let i = 0; i < d.length; i += 4) sum += (d[i] + d[i + 1] + d[i + 2]) / 3;
  return {mean: sum / (d.length / 4), frames: Number(img.dataset.frames || 0)};
}"""
)


def grey_webm(value: int, seconds: float = 4.0) -> bytes:
    import io

    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, mode="w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(round(seconds * 10)):
            frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), value, np.uint8))
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def run_clip_test_stream(page: Any, comfy_web: Any, clip: str) -> dict[str, Any]:
    page.select_option("[data-testid=test-source]", "graph")
    page.select_option("[data-testid=test-clip]", clip)
    page.click("[data-testid=test-start]")
    test = wait_until(
        lambda: (t := comfy_web.get("/trickle/live-test"))["running"] and t,
        40,
        f"the {clip} test stream to start",
    )
    sid = test["stream_id"]
    caption = "[data-testid=preview-caption]"
    wait_until(lambda: sid in page.inner_text(caption), 30, f"a preview frame of {sid}")
    return {**comfy_web.get("/trickle/live-test/clip")["clip"], "stream_id": sid}


def test_test_stream_of_an_uploaded_file(comfy_web: Any, browser_page: Any) -> None:
    page = browser_page
    page.evaluate("() => app.extensionManager.setting.set('TrickleLive.TestSeconds', 4)")
    page.select_option("[data-testid=test-clip]", "file")
    page.set_input_files(
        "[data-testid=test-file]",
        files=[{"name": "grey.webm", "mimeType": "video/webm", "buffer": grey_webm(200)}],
    )
    clip = run_clip_test_stream(page, comfy_web, "file")
    assert clip["name"] == "grey.webm" and clip["size"] == [256, 256], clip
    # the file's flat grey (blurred: still grey) is what runs, once the preview shows this stream
    wait_until(lambda: abs(page.evaluate(PREVIEW_MEAN)["mean"] - 200) < 15, 20, "a grey preview")
    wait_until(lambda: not comfy_web.get("/trickle/live-test")["running"], 30, "the clip's end")
    assert page.errors == []


def test_test_stream_of_the_webcam(comfy_web: Any, browser_page: Any) -> None:
    """Chromium's fake camera (--use-fake-device-for-media-stream) is recorded and streamed."""
    page = browser_page
    assert page.evaluate("() => !document.querySelector('[value=webcam]').disabled")
    clip = run_clip_test_stream(page, comfy_web, "webcam")
    assert clip["name"] == "webcam" and clip["frames"] >= 24, clip  # ~4 s at 12 fps
    # the fake camera's picture (colours, a moving pie), not the previous file's flat grey
    wait_until(lambda: abs(page.evaluate(PREVIEW_MEAN)["mean"] - 200) > 25, 20, "the camera")
    streams = comfy_web.get("/trickle/status")["streams"]
    assert all(s["frames_out"] > 0 for s in streams if s["stream_id"] == clip["stream_id"])
    shot(page, "test-webcam.png")
    page.click("[data-testid=test-stop]")
    wait_until(lambda: not comfy_web.get("/trickle/live-test")["running"], 20, "the stop")
    assert page.errors == []


def test_the_live_runner_section_gives_the_static_registration(
    comfy_web: Any, browser_page: Any
) -> None:
    """Issue 9: the editor panel shows the exact runners.json entry and registerLiveRunners
    command of the live runner on its own port (the fixture sets TRICKLE_LR_PORT)."""
    page = browser_page
    section = "[data-testid=live-runner]"
    page.locator(section).scroll_into_view_if_needed()
    page.wait_for_selector(f"{section} [data-testid=lr-runners-json]:visible", timeout=20_000)
    registration = comfy_web.get("/trickle/status")["live_runner"]["registration"]
    shown = json.loads(page.inner_text(f"{section} [data-testid=lr-runners-json]"))
    assert shown == registration["runners_json"]
    (entry,) = shown["runners"]
    assert entry["runner_url"] == f"http://127.0.0.1:{comfy_web.lr_port}/trickle-live/lr"
    assert entry["app"] == "live-video-to-video/comfyui" and entry["routing"] == "label"
    command = page.inner_text(f"{section} [data-testid=lr-register-command]")
    assert command == registration["register_command"] and "/registerLiveRunners" in command
    summary = page.inner_text(f"{section} [data-testid=lr-summary]")
    assert f"port {comfy_web.lr_port}" in summary and "live-video-to-video/comfyui" in summary
    assert "dynamic registration off" in page.inner_text(f"{section} [data-testid=lr-heartbeat]")
    assert page.errors == []


def test_settings_changes_need_the_token_and_the_panel_asks_for_it(
    comfy_web: Any, browser_page: Any
) -> None:
    """Issue 16: once a runner token is set, the panel's settings form asks for it (a prompt)
    and the change goes through with it; without it the server refuses (401)."""
    page = browser_page
    status, body = comfy_web.request("POST", "/trickle/settings", {"token": "panel-t0k"})
    assert status == 200, body
    try:
        status, body = comfy_web.request("POST", "/trickle/settings", {"capacity": 2})
        assert status == 401, body  # ComfyUI's port: the token is needed now
        asked: list[str] = []

        def answer(dialog: Any) -> None:
            asked.append(dialog.message)
            dialog.accept("panel-t0k")

        page.on("dialog", answer)
        field = f"{PANEL} [data-testid=settings] input[data-setting=capacity]"
        page.locator(field).scroll_into_view_if_needed()
        page.fill(field, "2")
        page.click(f"{PANEL} [data-testid=save-settings]")
        wait_until(
            lambda: comfy_web.get("/trickle/settings")["saved"].get("capacity") == 2,
            20,
            "the saved capacity",
            page,  # the token prompt may open after click() returned: answered while waiting
        )
        page.remove_listener("dialog", answer)
        assert len(asked) == 1 and "token" in asked[0], asked
        assert page.errors == []
    finally:
        request = urllib.request.Request(
            comfy_web.url + "/trickle/settings",
            data=json.dumps({"token": None, "capacity": None}).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": "Bearer panel-t0k"},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.status == 200
