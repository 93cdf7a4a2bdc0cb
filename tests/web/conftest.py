"""Fixtures of the web tests: a real ComfyUI with the pack (its own instance, so saving a default
live workflow here cannot change what the ComfyUI integration tests run) and headless Chromium
driven by Python's ``playwright`` (``pip install playwright``; no browser download: Debian's
``chromium`` is used). Skipped with the reason when ``COMFYUI_PATH``, chromium or playwright is
missing."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..comfyui.conftest import boot

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",  # a synthetic webcam
]  # fmt: skip


def chromium_path() -> str | None:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return found if Path(found).exists() else None


@pytest.fixture(scope="module")
def comfy_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # the live-runner app runs on a port of its own, so the panel shows its registration
    with boot(
        tmp_path_factory,
        "comfy-web",
        skip_reason="COMFYUI_PATH is not set: the web tests need a real ComfyUI (see docs/web.md)",
    ) as comfy:
        yield comfy


@pytest.fixture(scope="module")
def browser_page(comfy_web: Any) -> Iterator[Any]:
    """One Chromium page on the ComfyUI editor, with page errors collected in ``page.errors``."""
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Python playwright is missing: pip install playwright"
    )
    with tempfile.TemporaryDirectory(prefix="trickle-web-chromium-") as profile:
        with sync_api.sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1400, "height": 900},
            )  # fmt: skip
            page = context.new_page()
            page.errors = []
            page.console_lines = []
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: page.console_lines.append((msg.location.get("url", ""), msg.text)),
            )
            try:
                yield page
            finally:
                context.close()
