"""The pack's example workflows in ComfyUI's Templates browser (a real ComfyUI, headless Chromium):
each appears once (the UI format in ``example_workflows/``; the API format lives in
``api_workflows/``, a folder ComfyUI does not list), with its own thumbnail and no 404.

The thumbnails are made here: each example is loaded into the editor, fitted to the view, and the
graph canvas is cut to a square JPEG. They are written to ``$TRICKLE_THUMBNAILS`` (the committed
ones: ``TRICKLE_THUMBNAILS=example_workflows``), else to a temporary folder, so a test run never
changes tracked files; the committed ones must exist and be served by ComfyUI."""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from trickle_live.trickle.session.workflow_spec import BUNDLED_DIR, EXAMPLES_DIR

from .web_page import open_editor

pytestmark = pytest.mark.comfyui

MODULE = "trickle-live"  # the pack's folder name under custom_nodes (conftest's symlink)
NAMES = sorted(p.name[: -len(".api.json")] for p in BUNDLED_DIR.glob("*.api.json"))
THUMBS = Path(
    os.environ.get("TRICKLE_THUMBNAILS") or tempfile.gettempdir() + "/trickle-live-thumbnails"
)
SIDE = 512

# The graph drawn to fit a centred square of the canvas (a small margin), cut out as a JPEG data URL.
THUMBNAIL = """async (side) => {
  const canvas = app.canvas, el = canvas.canvas;
  const boxes = app.graph._nodes.map((n) => n.boundingRect);
  const x0 = Math.min(...boxes.map((b) => b[0])), y0 = Math.min(...boxes.map((b) => b[1]));
  const x1 = Math.max(...boxes.map((b) => b[0] + b[2])), y1 = Math.max(...boxes.map((b) => b[1] + b[3]));
  const s = Math.min(el.width, el.height), left = (el.width - s) / 2, top = (el.height - s) / 2;
  const scale = 0.92 * s / Math.max(x1 - x0, y1 - y0);
  canvas.ds.scale = scale;
  canvas.ds.offset = [(left + (s - (x1 - x0) * scale) / 2) / scale - x0,
                      (top + (s - (y1 - y0) * scale) / 2) / scale - y0];
  canvas.setDirty(true, true); canvas.draw(true, true);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const out = document.createElement('canvas');
  out.width = out.height = side;
  out.getContext('2d').drawImage(el, left, top, s, s, 0, 0, side, side);
  return out.toDataURL('image/jpeg', 0.85);
}"""


def test_each_example_is_one_template(comfy_web: Any) -> None:
    listed = comfy_web.get("/api/workflow_templates")
    assert sorted(listed.get(MODULE, [])) == NAMES, listed  # no "blur.api" twins
    assert sorted(p.stem for p in EXAMPLES_DIR.glob("*.json")) == NAMES
    for name in NAMES:
        graph = comfy_web.get(f"/api/workflow_templates/{MODULE}/{name}.json")
        assert isinstance(graph.get("nodes"), list) and graph["nodes"], name  # the UI format


def test_thumbnails_are_made_from_the_graphs(comfy_web: Any, browser_page: Any) -> None:
    page = browser_page
    page.set_viewport_size({"width": 900, "height": 900})  # a square canvas: the graph fills it
    open_editor(comfy_web, page)
    # full detail at any zoom (no low-quality boxes for a fitted large graph)
    page.evaluate(
        """async () => { const s = app.extensionManager.setting;
           await s.set('LiteGraph.Canvas.MinFontSizeForLOD', 0);
           await s.set('Comfy.Graph.CanvasInfo', false); }"""
    )
    THUMBS.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        graph = json.loads((EXAMPLES_DIR / f"{name}.json").read_text())
        page.evaluate("g => app.loadGraphData(g)", graph)
        time.sleep(0.5)
        url = page.evaluate(THUMBNAIL, SIDE)
        data = base64.b64decode(url.split(",", 1)[1])
        assert data[:3] == b"\xff\xd8\xff" and len(data) > 5000, (name, len(data))
        (THUMBS / f"{name}.jpg").write_bytes(data)
    page.set_viewport_size({"width": 1400, "height": 900})
    assert page.errors == []


def test_thumbnails_are_committed_and_served(comfy_web: Any) -> None:
    import urllib.request

    for name in NAMES:
        path = EXAMPLES_DIR / f"{name}.jpg"
        assert path.is_file(), (
            f"{path} is missing: TRICKLE_THUMBNAILS=example_workflows pytest {__file__}"
        )
        with urllib.request.urlopen(
            f"{comfy_web.url}/api/workflow_templates/{MODULE}/{name}.jpg"
        ) as resp:
            assert resp.status == 200 and resp.read() == path.read_bytes()


def test_the_templates_browser_shows_each_once_with_its_picture(
    comfy_web: Any, browser_page: Any
) -> None:
    page = browser_page
    answers: list[tuple[int, str]] = []
    page.on(
        "response",
        lambda r: "/workflow_templates/" in r.url and answers.append((r.status, r.url)),
    )
    open_editor(comfy_web, page)
    page.evaluate("() => app.extensionManager.command.execute('Comfy.BrowseTemplates')")
    page.wait_for_selector(".p-dialog", timeout=20_000)
    page.locator(".p-dialog").get_by_text(MODULE, exact=True).click()  # Extensions → trickle-live

    def shown() -> list[dict[str, Any]]:  # the category's cards (images come as blob: URLs)
        return page.evaluate(
            """() => [...document.querySelectorAll('.p-dialog img[alt]')].map(img => ({
                 alt: img.alt, loaded: img.complete && img.naturalWidth > 0}))"""
        )

    deadline = time.monotonic() + 20
    found = shown()
    while time.monotonic() < deadline and not (found and all(f["loaded"] for f in found)):
        time.sleep(0.5)
        found = shown()
    shots = Path(
        os.environ.get("TRICKLE_SCREENSHOTS") or tempfile.gettempdir() + "/trickle-live-screens"
    )
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "templates.png"))
    assert sorted(f["alt"] for f in found) == NAMES, found  # each once: no "blur.api"
    assert all(f["loaded"] for f in found), found
    pictures = sorted(url.rsplit("/", 1)[-1] for status, url in answers if url.endswith(".jpg"))
    assert pictures == [f"{n}.jpg" for n in NAMES], answers
    assert [a for a in answers if a[0] >= 400] == []  # no 404 for a thumbnail
    page.keyboard.press("Escape")
