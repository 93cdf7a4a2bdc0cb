"""A real ComfyUI (CPU) with the pack installed, started once per test session.

Skipped with the reason when ``COMFYUI_PATH`` is unset. Python: ``$COMFYUI_PYTHON``, else
``$COMFYUI_PATH/venv/bin/python`` (``scripts/setup-comfyui.sh`` makes it). ComfyUI runs with a
temporary ``--base-directory`` (custom_nodes/trickle-live → this checkout, an empty placeholder
checkpoint so the diffusion example validates), so the ComfyUI tree is left untouched.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT = 180.0


def http_call(
    url: str, method: str, data: bytes | None, headers: dict[str, str], timeout: float = 30
) -> tuple[int, Any]:
    """One request with these exact headers; (status, JSON body, else its text; None if empty)."""
    req = urllib.request.Request(url, data=data, method=method)
    for name, value in headers.items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


@dataclass
class ComfyUI:
    url: str
    base: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    lr_port: int = 0  # the live-runner app's own port (TRICKLE_LR_PORT) in that ComfyUI

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(
        self, method: str, path: str, body: Any = None, timeout: float = 30
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {} if data is None else {"Content-Type": "application/json"}
        return http_call(self.url + path, method, data, headers, timeout)

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return body


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _python(comfy: Path) -> str:
    return os.environ.get("COMFYUI_PYTHON") or str(comfy / "venv" / "bin" / "python")


BOOT_TRIES = 3  # a port taken by another process between choosing and binding: choose again
ADDRESS_IN_USE = ("address already in use", "errno 98")


class PortTaken(Exception):
    """The chosen port answered for another server, or our ComfyUI could not bind it."""


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log_path: Path, base: Path, lr_port: int
) -> None:
    """Until ``url`` answers as *this* ComfyUI: its ``/system_stats`` argv names ``base`` (a port
    chosen free can be bound by another test's server before ours binds it; that server would
    answer too). Raises :class:`PortTaken` when another server answers, or ours could not bind
    its port or the live runner's ``lr_port``."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")
            if any(marker in log.lower() for marker in ADDRESS_IN_USE):
                raise PortTaken(f"ComfyUI could not bind its port:\n{log[-2000:]}")
            pytest.fail(f"ComfyUI exited with {process.returncode}:\n{log[-4000:]}")
        try:
            with urllib.request.urlopen(url + "/system_stats", timeout=2) as resp:
                stats = json.loads(resp.read()) if resp.status == 200 else None
        except (OSError, ValueError):
            time.sleep(0.5)
            continue
        argv = (stats or {}).get("system", {}).get("argv") or []
        if str(base) not in argv:
            raise PortTaken(f"{url} answers for another server (argv {argv})")
        log = log_path.read_text(errors="replace")  # the live-runner app binds before ComfyUI
        if f"could not start on port {lr_port}" in log and any(
            marker in log.lower() for marker in ADDRESS_IN_USE
        ):
            raise PortTaken(f"the live-runner port {lr_port} was taken:\n{log[-2000:]}")
        return
    pytest.fail(f"ComfyUI did not answer within {BOOT_TIMEOUT}s:\n{log_path.read_text()[-4000:]}")


@contextmanager
def boot(
    factory: pytest.TempPathFactory,
    name: str,
    *,
    skip_reason: str,
    env: dict[str, str] | None = None,
    prepare: Callable[[Path], None] | None = None,
    args: list[str] | None = None,
    link_pack: bool = True,
    base: Path | None = None,
    python: str | None = None,
) -> Iterator[ComfyUI]:
    """Start a ComfyUI (CPU) with the pack in a fresh ``--base-directory``; stop it afterwards.

    Skips with ``skip_reason`` when ``COMFYUI_PATH`` is unset. ``prepare(base)`` may add files to
    the base directory before the start; ``env`` adds variables. The live-runner app gets a port
    of its own (``TRICKLE_LR_PORT``) unless ``env`` sets one. ``args`` adds ComfyUI options;
    ``link_pack=False`` leaves the pack out of custom_nodes (an installer puts it there); ``base``
    reuses a base directory (a second start); ``python`` overrides ComfyUI's interpreter.
    """
    path = os.environ.get("COMFYUI_PATH")
    if not path:
        pytest.skip(skip_reason)
    comfy = Path(path)
    python = python or _python(comfy)
    if not (comfy / "main.py").is_file() or not Path(python).exists():
        pytest.skip(f"COMFYUI_PATH={comfy} has no main.py, or its python {python} is missing")
    if base is None:
        base = factory.mktemp(name)
        (base / "custom_nodes").mkdir()
        if link_pack:
            (base / "custom_nodes" / "trickle-live").symlink_to(ROOT, target_is_directory=True)
    if prepare is not None:
        prepare(base)
    process, url, lr_port, log_path = _start(comfy, python, base, env, args)
    try:
        yield ComfyUI(url, base, log_path, process, lr_port)
    finally:
        _stop(process)


def _start(
    comfy: Path, python: str, base: Path, env: dict[str, str] | None, args: list[str] | None
) -> tuple[subprocess.Popen[bytes], str, int, Path]:
    """ComfyUI on fresh ports, answering as itself; up to ``BOOT_TIMEOUT`` per try, and another
    try on other ports when one was taken (at most ``BOOT_TRIES``)."""
    log_path = base / "comfyui.log"
    for attempt in range(1, BOOT_TRIES + 1):
        port = _free_port()
        lr_port = _free_port()
        while lr_port == port:
            lr_port = _free_port()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "TRICKLE_LR_PORT": str(lr_port)}
        full_env.update(env or {})
        cmd = [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
               "--base-directory", str(base), "--disable-api-nodes", *(args or [])]  # fmt: skip
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                cmd, cwd=comfy, stdout=log_file, stderr=subprocess.STDOUT, env=full_env
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, process, log_path, base, int(full_env["TRICKLE_LR_PORT"]))
        except PortTaken as taken:
            _stop(process)
            if attempt == BOOT_TRIES:
                pytest.fail(f"ComfyUI found no free port in {BOOT_TRIES} tries: {taken}")
            continue
        except BaseException:
            _stop(process)
            raise
        return process, url, int(full_env["TRICKLE_LR_PORT"]), log_path
    raise AssertionError("unreachable")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def _placeholder_checkpoint(base: Path) -> None:
    """An empty sd_turbo checkpoint, so the diffusion example validates."""
    (base / "models" / "checkpoints").mkdir(parents=True)
    (base / "models" / "checkpoints" / "sd_turbo.safetensors").write_bytes(b"")


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyUI]:
    with boot(
        tmp_path_factory,
        "comfy-base",
        skip_reason="COMFYUI_PATH is not set: point it at a ComfyUI checkout prepared with "
        "scripts/setup-comfyui.sh to run the ComfyUI integration tests",
        env={"TRICKLE_INPUT_TIMEOUT": "20", "TRICKLE_LR_IDLE_TIMEOUT": "1"},
        prepare=_placeholder_checkpoint,
    ) as comfy:
        yield comfy


CHECKPOINT_ARCH, CHECKPOINT_SEED = "sd21-turbo", 0
CHECKPOINT_TIMEOUT = 600.0


def random_checkpoint(comfy: Path) -> Path:
    """The random-weight SD 2.1-Turbo checkpoint (scripts/make-random-checkpoint.py), made once
    and cached outside the repo: ``$TRICKLE_CHECKPOINT_CACHE``, else
    ``$XDG_CACHE_HOME/trickle-live/checkpoints`` (``~/.cache/…``), keyed by arch, seed and the
    script's hash. A lock file keeps parallel test runs from making it twice."""
    import fcntl
    import hashlib

    script = ROOT / "scripts" / "make-random-checkpoint.py"
    digest = hashlib.sha1(script.read_bytes()).hexdigest()[:10]
    root = os.environ.get("TRICKLE_CHECKPOINT_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "trickle-live"
        / "checkpoints"
    )
    cache = Path(root)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{CHECKPOINT_ARCH}-seed{CHECKPOINT_SEED}-fp16-{digest}.safetensors"
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            cmd = [_python(comfy), str(script), "--comfyui", str(comfy),
                   "--arch", CHECKPOINT_ARCH, "--seed", str(CHECKPOINT_SEED), "--out", str(path)]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=CHECKPOINT_TIMEOUT)
            if done.returncode != 0:
                pytest.fail(f"making the random checkpoint failed:\n{done.stderr[-4000:]}")
    return path


@contextmanager
def boot_with_model(
    factory: pytest.TempPathFactory, name: str, env: dict[str, str] | None = None
) -> Iterator[ComfyUI]:
    """A ComfyUI whose ``models/checkpoints/sd_turbo.safetensors`` is the random SD 2.1-Turbo
    checkpoint (a link to the cached file), so ``sd-turbo-img2img`` runs unchanged."""
    path = os.environ.get("COMFYUI_PATH")
    ready = path and Path(path, "main.py").is_file() and Path(_python(Path(path))).exists()
    checkpoint = random_checkpoint(Path(path)) if ready and path else None  # else boot() skips

    def prepare(base: Path) -> None:
        (base / "models" / "checkpoints").mkdir(parents=True)
        assert checkpoint is not None
        (base / "models" / "checkpoints" / "sd_turbo.safetensors").symlink_to(checkpoint)

    with boot(
        factory,
        name,
        skip_reason="COMFYUI_PATH is not set: the diffusion tests need a ComfyUI",
        env={"TRICKLE_INPUT_TIMEOUT": "60", "TRICKLE_LR_IDLE_TIMEOUT": "2", **(env or {})},
        prepare=prepare,
    ) as comfy:
        yield comfy


@pytest.fixture(scope="module")
def comfyui_sd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyUI]:
    """A ComfyUI with the random SD 2.1-Turbo checkpoint as ``sd_turbo.safetensors``; per module,
    so its ≈5 GB go when the module's tests are done."""
    with boot_with_model(tmp_path_factory, "comfy-sd") as comfy:
        yield comfy


@pytest.fixture(scope="session")
def comfyui_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyUI]:
    """A second ComfyUI whose streams use ComfyUI's queue, one prompt per frame."""
    with boot(
        tmp_path_factory,
        "comfy-queue",
        skip_reason="COMFYUI_PATH is not set: the queue-executor tests need a ComfyUI",
        env={"TRICKLE_INPUT_TIMEOUT": "20", "TRICKLE_EXECUTOR": "queue"},
    ) as comfy:
        yield comfy


@pytest.fixture(scope="session")
def comfyui_two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyUI]:
    """A ComfyUI serving three streams at once (two of them on its live-runner port); its
    default live workflow is ``blur`` (``TRICKLE_WORKFLOW``)."""
    with boot(
        tmp_path_factory,
        "comfy-two",
        skip_reason="COMFYUI_PATH is not set: the concurrent-session tests need a ComfyUI",
        env={
            "TRICKLE_CAPACITY": "3",
            "TRICKLE_LR_CAPACITY": "2",
            "TRICKLE_LR_IDLE_TIMEOUT": "3",
            "TRICKLE_INPUT_TIMEOUT": "20",
            "TRICKLE_WORKFLOW": "blur",
        },
    ) as comfy:
        yield comfy


@pytest.fixture
def comfyui_fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyUI]:
    """A ComfyUI of its own for one test (e.g. one that stops it with a signal)."""
    with boot(
        tmp_path_factory,
        "comfy-fresh",
        skip_reason="COMFYUI_PATH is not set: this test stops a real ComfyUI",
        env={"TRICKLE_INPUT_TIMEOUT": "20"},
    ) as comfy:
        yield comfy
