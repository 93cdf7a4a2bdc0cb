"""The systems under test, each started by the benchmark in its own process on loopback.

- ``ComfySystem``: a stock ComfyUI (``COMFYUI_PATH``) with this pack installed through a temporary
  ``--base-directory`` (the ComfyUI tree is left untouched), driven as an orchestrator drives it;
- ``PytrickleSystem``: pytrickle's ``StreamProcessor`` with an async passthrough function, in
  ``.venv-pytrickle`` (it pins its own PyAV), started through its own HTTP API;
- ``BareTrickleSystem``: the floor, PyAV alone behind trickle (``_bare_trickle.py``);
- ``RunnerSystem``: ``python -m trickle runner`` with its built-in passthrough;
- ``run_floor``: the bare transcode of ``benchmarks/transcode.py`` (PyAV alone) in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
PYTRICKLE_PYTHON = ROOT / ".venv-pytrickle" / "bin" / "python"
BOOT_TIMEOUT = 180.0

PYTRICKLE_SCRIPT = """
import logging, sys
from pytrickle import StreamProcessor

logging.basicConfig(level=logging.WARNING)

async def passthrough(frame):
    return frame

StreamProcessor(video_processor=passthrough, name="passthrough", port=int(sys.argv[1]),
                host="127.0.0.1").run()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class System:
    """A runner in a child process that answers ``/health`` and ``POST /live-video-to-video``."""

    name = "?"
    start_params: dict[str, Any] = {}

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-"))
        self.log_path = self.workdir / "process.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _spawn(self, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                cmd, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, env=env
            )

    async def health(self, http: aiohttp.ClientSession) -> str:
        try:
            async with http.get(self.url + "/health") as resp:
                body = await resp.json(content_type=None)
                return str(body.get("status", "?")) if isinstance(body, dict) else "?"
        except (aiohttp.ClientError, OSError, ValueError, asyncio.TimeoutError):
            return "DOWN"

    async def wait_health(
        self, http: aiohttp.ClientSession, wanted: set[str], timeout: float = BOOT_TIMEOUT
    ) -> str:
        deadline = time.monotonic() + timeout
        status = "DOWN"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            status = await self.health(http)
            if status in wanted:
                return status
            await asyncio.sleep(0.25)
        raise RuntimeError(f"{self.name}: /health stayed {status}:\n{self.log_tail()}")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_errors(self, since: int = 0) -> int:
        """Tracebacks and ComfyUI's "Exception during processing" lines in the log after byte
        ``since`` (boot-time import failures of optional ComfyUI nodes are not counted)."""
        with self.log_path.open("rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        return text.count("Traceback (most recent call last)") + text.count("!!! Exception")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        shutil.rmtree(self.workdir, ignore_errors=True)


class ComfySystem(System):
    """``pack``: the trickle-live tree installed into it (default: this one; another, e.g. a
    ``git worktree`` of another commit, to compare two versions side by side)."""

    name = "trickle-live"

    def __init__(self, comfy_path: Path, pack: Path = ROOT, name: str = "trickle-live") -> None:
        self.name = name
        super().__init__()
        self.comfy_path = comfy_path
        self.pack = pack
        self.python = os.environ.get("COMFYUI_PYTHON") or str(
            comfy_path / "venv" / "bin" / "python"
        )

    async def boot(self, http: aiohttp.ClientSession) -> None:
        base = self.workdir / "base"
        (base / "custom_nodes").mkdir(parents=True)
        (base / "custom_nodes" / "trickle-live").symlink_to(self.pack, target_is_directory=True)
        port = free_port()
        cmd = [self.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
               "--base-directory", str(base), "--disable-api-nodes"]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TRICKLE_INPUT_TIMEOUT": "20"}
        self._spawn(cmd, self.comfy_path, env)
        self.url = f"http://127.0.0.1:{port}"
        await self.wait_health(http, {"IDLE", "OK"})

    async def processor_states(self, http: aiohttp.ClientSession) -> list[str]:
        async with http.get(self.url + "/trickle/streams") as resp:
            body = await resp.json()
        return [str(s.get("processor")) for s in body.get("streams", [])]


class BareTrickleSystem(System):
    """The floor fed through trickle (``_bare_trickle.py``): subscribe → PyAV alone (decode →
    RGB → encode, ``_bare.py``) → publish, nothing else, measured by the same harness as the
    systems under test."""

    name = "floor"

    async def boot(self, http: aiohttp.ClientSession) -> None:
        port = free_port()
        script = Path(__file__).with_name("_bare_trickle.py")
        self._spawn([sys.executable, str(script), str(port)], ROOT, dict(os.environ))
        self.url = f"http://127.0.0.1:{port}"
        await self.wait_health(http, {"IDLE"})


class RunnerSystem(System):
    """trickle-live's own runner without ComfyUI (``python -m trickle runner``, built-in
    passthrough processor): the same session, media and HTTP, no workflow. Tells what ComfyUI
    itself costs per frame."""

    name = "runner"

    async def boot(self, http: aiohttp.ClientSession) -> None:
        port = free_port()
        cmd = [sys.executable, "-m", "trickle", "runner", "--port", str(port),
               "--processor", "passthrough"]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TRICKLE_INPUT_TIMEOUT": "20"}
        self._spawn(cmd, ROOT, env)
        self.url = f"http://127.0.0.1:{port}"
        await self.wait_health(http, {"IDLE", "OK"})


class PytrickleSystem(System):
    name = "pytrickle"
    # pytrickle's decoder drops frames above max_framerate (default 24) on the pts clock;
    # 60 leaves the 30 fps clip alone, as a user running 30 fps would configure it
    start_params = {"width": 512, "height": 512, "max_framerate": 60}

    async def boot(self, http: aiohttp.ClientSession) -> None:
        script = self.workdir / "passthrough.py"
        script.write_text(PYTRICKLE_SCRIPT)
        port = free_port()
        self._spawn([str(PYTRICKLE_PYTHON), str(script), str(port)], ROOT, dict(os.environ))
        self.url = f"http://127.0.0.1:{port}"
        await self.wait_health(http, {"IDLE"})


def run_floor(clip_path: Path, fps: float, paced: bool, threads: int) -> subprocess.Popen[bytes]:
    """The bare transcode (decode + encode, no HTTP) of the clip in a child process; it prints
    one JSON object. ``threads``: the encoder's codec threads (0: the codec's choice)."""
    cmd = [sys.executable, str(Path(__file__).with_name("_floor.py")), str(clip_path),
           str(fps), "paced" if paced else "fast", str(threads)]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE)


def floor_result(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    out, _ = process.communicate()  # as long as the clip lasts (10 min with --long)
    if process.returncode != 0:
        raise RuntimeError(f"floor run failed with {process.returncode}")
    result: dict[str, Any] = json.loads(out)
    return result
