"""The editor panel shows each orchestrator probe and what the orchestrator will advertise, in
real headless Chromium against a real ComfyUI (the web tests' fixtures; skipped without
``COMFYUI_PATH``, chromium or playwright)."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from ..web import conftest as web_fixtures
from ..web.web_page import open_editor

pytestmark = pytest.mark.comfyui

SECTION = "[data-testid=orchestrator-probes]"

comfy_web = web_fixtures.comfy_web  # the web tests' fixtures
browser_page = web_fixtures.browser_page


def probe(url: str) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "Go-http-client/1.1"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def test_panel_shows_probes_and_what_is_advertised(comfy_web: Any, browser_page: Any) -> None:
    page = browser_page
    open_editor(comfy_web, page)
    page.click(".trickle-live-tab-button")
    page.wait_for_selector(f"{SECTION} [data-field=gate]")
    assert "not seen" in page.inner_text(f"{SECTION} [data-field=gate]")
    assert page.inner_text(f"{SECTION} [data-probe=health]").count("never") >= 1
    for path in ("/health", "/hardware/info", "/version"):  # an orchestrator starting up
        probe(comfy_web.url + path)
    page.wait_for_function(
        "s => document.querySelector(s)?.textContent.includes('passed')",
        arg=f"{SECTION} [data-field=gate]",
        timeout=20_000,
    )
    capability = page.inner_text(f"{SECTION} [data-field=capability]")
    assert "live-video-to-video/comfystream" in capability
    row = page.inner_text(f'{SECTION} [data-probe="hardware/info"]')
    assert "127.0.0.1" in row and "model_id=comfystream" in row and "never" not in row
    assert "Go-http-client" in page.inner_text(f"{SECTION} [data-testid=advertised]")
    assert "dashboard" in page.inner_text(SECTION)
    assert page.errors == []
