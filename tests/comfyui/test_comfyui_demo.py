"""The README's main job with the real thing: ``python -m trickle demo --comfy URL`` against a real
ComfyUI with the pack (start request, real-time clip, a midway update, output MP4, summary)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import pytest

pytestmark = pytest.mark.comfyui

ROOT = Path(__file__).resolve().parents[2]


def test_demo_command_against_comfyui(comfyui, tmp_path: Path) -> None:
    out = tmp_path / "demo.mp4"
    cmd = [sys.executable, "-m", "trickle", "--log-level", "WARNING", "demo",
           "--comfy", comfyui.url, "--seconds", "4", "--size", "128x128", "--out", str(out)]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout
    assert "start: HTTP 200 {}" in text and 's: {"radius": 1}' in text, text  # update sent
    assert "info: workflow loaded" in text and "info: parameters applied" in text, text
    assert "error:" not in text, text
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 60, f"{frames} of 120 frames in the MP4"  # drops allowed on a busy box
    assert f"frames in / out           120 / {frames}" in text, text
    assert comfyui.get("/health") == {"status": "IDLE"}
