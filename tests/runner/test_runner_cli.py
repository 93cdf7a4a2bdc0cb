"""The ``runner`` and ``demo`` commands as a user runs them (a subprocess from the repository root)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_runner_command_serves_health_and_stops_on_sigterm() -> None:
    env = {**os.environ, "TRICKLE_MODEL_ID": "from-env"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trickle",
            "runner",
            "--port",
            "0",
            "--processor",
            "invert",
            "--token",
            "t",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("trickle-live runner on http://127.0.0.1:"), line
        url = line.split()[3]
        with urllib.request.urlopen(url + "/health", timeout=10) as resp:
            assert json.load(resp) == {"status": "IDLE"}
        with urllib.request.urlopen(url + "/version", timeout=10) as resp:
            assert json.load(resp)["model_id"] == "from-env"
        request = urllib.request.Request(
            url + "/live-video-to-video",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json"},  # urllib's default form type: a 400
        )
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError("start without the token was accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401 and json.load(exc)["detail"]["msg"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    assert code == 0, proc.stderr.read() if proc.stderr else ""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRICKLE_CAPACITY", "lots"),
        ("TRICKLE_CAPACITY", "0"),  # a range check names the variable too
        ("TRICKLE_EXECUTOR", "fast"),  # ComfyUI's settings are checked with the others
        ("TRICKLE_FRAME_PLAN", "sometimes"),
        ("TRICKLE_OUTPUT_DIGESTS", "many"),
    ],
)
def test_runner_command_refuses_bad_configuration(variable: str, value: str) -> None:
    """README: invalid values stop the runner at start with one line naming the variable, the
    expected and the received value."""
    env = {**os.environ, variable: value}
    result = subprocess.run(
        [sys.executable, "-m", "trickle", "runner", "--port", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"configuration error: {variable}: expected ")
    assert value in lines[0].rsplit(", received ", 1)[1], lines


def test_demo_command_streams_and_writes_mp4(tmp_path: Path) -> None:
    out = tmp_path / "demo.mp4"
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "trickle", "--log-level", "WARNING", "demo", "--seconds", "2",
         "--size", "64x64", "--fps", "15", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - began < 30
    assert "frames in / out           30 / 30" in result.stdout, result.stdout
    assert "start: HTTP 200 {}" in result.stdout and "update sent" in result.stdout
    # the summary explains its numbers: unprocessed frames while warming up, what a drop is
    assert "published unprocessed     0 (while the workflow loaded" in result.stdout
    assert "(a drop: a frame that waited over 100 ms" in result.stdout
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 30 and frames[0].width == 64


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--comfy", "http://127.0.0.1:9"], "no ComfyUI with this pack answers"),  # nothing there
        (["--size", "511x300"], "even numbers"),  # was avcodec_open2's ExternalError
        (["--size", "big"], "WIDTHxHEIGHT"),
        (["--input", "README.md"], "not a video file"),  # was [Errno 1094995529]
        (["--input", "no-such-file.mp4"], "an existing video file"),
        (["--params", "{oops"], "not JSON"),
        (["--params", "[1]"], "a JSON object"),
        (["--seconds", "0"], "--seconds"),
        (["--comfy", "ftp://x"], "ComfyUI's URL"),
    ],
)
def test_demo_mistakes_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    """Every user mistake: one line on stderr that says what is wrong and what to do, exit 2, no
    traceback. The first four failed on a7eb603 (tracebacks or raw PyAV errors)."""
    result = subprocess.run(
        [sys.executable, "-m", "trickle", "--log-level", "WARNING", "demo", "--seconds", "1",
         "--out", os.devnull, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("demo: ") and says in lines[0], lines
    assert "Traceback" not in result.stdout + result.stderr and "Errno" not in lines[0]


def test_help_texts_are_plain() -> None:
    """Top-level help without reStructuredText backticks; ``demo --processor`` explains its
    default (failed on a7eb603: literal ``…`` and no help)."""
    top = subprocess.run(
        [sys.executable, "-m", "trickle", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    demo = subprocess.run(
        [sys.executable, "-m", "trickle", "demo", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert top.returncode == 0 and "``" not in top.stdout
    assert "passthrough" in demo.stdout.split("--processor", 2)[2].split("--size")[0]
