"""Helpers of the browser tests (real ComfyUI, headless Chromium; the fixtures are in conftest)."""

from __future__ import annotations

import json
import time
from typing import Any

from trickle_live.trickle.session.workflow_spec import EXAMPLES_DIR


def wait_until(check: Any, timeout: float, what: str, page: Any = None) -> Any:
    """The first truthy value of ``check()``, polled every 0.25 s; fails naming ``what``.

    With ``page``, waits through the page (``wait_for_timeout``): Playwright's sync API runs
    event handlers (a dialog's ``page.on("dialog", ...)``) only while one of its calls runs, so a
    plain sleep would leave a dialog that opens after the last call unanswered."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        if page is not None:
            page.wait_for_timeout(250)
        else:
            time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def open_editor(comfy_web: Any, page: Any) -> None:
    """The ComfyUI editor, loaded, with no first-run templates dialog over it."""
    status, _ = comfy_web.request("POST", "/api/settings", {"Comfy.TutorialCompleted": True})
    assert status == 200
    page.goto(comfy_web.url)
    page.wait_for_function("window.app && window.app.extensionManager && window.app.graph")
    if page.locator(".p-dialog-mask").count():
        page.keyboard.press("Escape")


def load_blur(page: Any, test_seconds: int, preview_fps: int) -> None:
    """The blur example in the editor; the panel's test stream: 256x256 at 12 fps."""
    page.evaluate("g => app.loadGraphData(g)", json.loads((EXAMPLES_DIR / "blur.json").read_text()))
    page.evaluate(
        """async ([seconds, previewFps]) => { const s = app.extensionManager.setting;
           await s.set('TrickleLive.TestSeconds', seconds); await s.set('TrickleLive.TestFps', 12);
           await s.set('TrickleLive.TestSize', '256x256');
           await s.set('TrickleLive.PreviewFps', previewFps); }""",
        [test_seconds, preview_fps],
    )
