"""scripts/setup-comfyui.sh and torch/torchvision/torchaudio (issue 20): ComfyUI's audio nodes import
torchaudio, so a venv without it (or with one built for another torch) prints three IMPORT FAILED
tracebacks at every start. The script installs one release line of all three (torchaudio X.Y.Z goes
with torch X.Y.Z only) and checks, on every run, that they import together with the versions it
pinned; otherwise it stops with one line that says what to do.

Runs the script on a throwaway ComfyUI tree whose venv sees the packages of ``COMFYUI_PATH``'s venv
(a .pth file) and carries the script's own ready marker, so only the check runs: nothing is
downloaded and ComfyUI's venv is never touched."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "setup-comfyui.sh"
pytestmark = pytest.mark.slow


def _site_packages(python: str) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def _pinned() -> dict[str, str]:
    match = re.search(r"^TORCH=(\S+) TORCHVISION=(\S+) TORCHAUDIO=(\S+)$", SCRIPT.read_text(), re.M)
    assert match, "setup-comfyui.sh no longer pins TORCH/TORCHVISION/TORCHAUDIO on one line"
    return dict(zip(("torch", "torchvision", "torchaudio"), match.groups(), strict=True))


@pytest.fixture
def fake_comfy(tmp_path: Path) -> Path:
    """A ComfyUI tree whose venv borrows COMFYUI_PATH's packages and whose marker says 'done'."""
    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        pytest.skip("COMFYUI_PATH is not set: the test borrows its venv's torch")
    comfy_python = str(Path(comfy_path) / "venv" / "bin" / "python")
    if not Path(comfy_python).exists():
        pytest.skip(f"{comfy_python} is missing (run scripts/setup-comfyui.sh first)")
    fake = tmp_path / "ComfyUI"
    fake.mkdir()
    (fake / "main.py").write_text("")
    (fake / "requirements.txt").write_text("torch\ntorchaudio\naiohttp\n")
    base = subprocess.run(
        [comfy_python, "-c", "import sys; print(sys.base_prefix)"], capture_output=True, text=True, check=True
    ).stdout.strip()  # fmt: skip
    python = str(Path(base) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")
    if not Path(python).exists():
        python = str(Path(base) / "bin" / "python3")
    venv = fake / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    site = _site_packages(str(venv / "bin" / "python"))
    Path(site, "comfyui-venv.pth").write_text(_site_packages(comfy_python) + "\n")
    want = re.search(r'^want="([^$]*)\$', SCRIPT.read_text(), re.M)
    assert want, "setup-comfyui.sh no longer writes its marker as expected"
    pinned = _pinned()
    prefix = (
        want.group(1)
        .replace("$TORCH", pinned["torch"])
        .replace("$TORCHVISION", pinned["torchvision"])
        .replace("$TORCHAUDIO", pinned["torchaudio"])
    )
    sums = [
        hashlib.sha1(p.read_bytes()).hexdigest()[:12]
        for p in (fake / "requirements.txt", ROOT / "requirements.txt")
    ]
    (venv / ".trickle-live-ready").write_text(f"{prefix}{sums[0]} {sums[1]} \n")
    return fake


def _run(fake: Path) -> tuple[int, str]:
    result = subprocess.run(
        ["bash", str(SCRIPT), str(fake)], capture_output=True, text=True, timeout=300, check=False
    )
    return result.returncode, result.stdout + result.stderr


def test_comfyui_venv_has_the_pinned_torch_torchvision_torchaudio() -> None:
    """The venv the script made (COMFYUI_PATH's) imports all three at the pinned versions."""
    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        pytest.skip("COMFYUI_PATH is not set")
    comfy_python = Path(comfy_path) / "venv" / "bin" / "python"
    if not comfy_python.exists():
        pytest.skip(f"{comfy_python} is missing (run scripts/setup-comfyui.sh first)")
    code = (
        "import torch, torchvision, torchaudio; "
        "print(*(m.__version__.split('+')[0] for m in (torch, torchvision, torchaudio)))"
    )
    got = subprocess.run(
        [str(comfy_python), "-c", code], capture_output=True, text=True, check=False
    )
    assert got.returncode == 0, got.stderr[-2000:]
    pinned = _pinned()
    assert got.stdout.split() == [pinned["torch"], pinned["torchvision"], pinned["torchaudio"]]
    assert pinned["torch"] == pinned["torchaudio"], "torchaudio X.Y.Z goes with torch X.Y.Z only"


def test_ready_venv_passes_the_check(fake_comfy: Path) -> None:
    rc, out = _run(fake_comfy)
    assert rc == 0, out
    assert "Traceback" not in out and out.rstrip().endswith(
        f"ComfyUI venv ready: {fake_comfy / 'venv'}"
    )


def test_mismatched_torchaudio_stops_with_one_line(fake_comfy: Path) -> None:
    """A torchaudio of another release (here a stand-in that shadows the real one) is refused."""
    site = _site_packages(str(fake_comfy / "venv" / "bin" / "python"))
    (Path(site) / "torchaudio").mkdir()
    (Path(site) / "torchaudio" / "__init__.py").write_text('__version__ = "2.11.1"\n')
    rc, out = _run(fake_comfy)
    assert rc == 1, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and "torchaudio" in lines[0] and "2.11.1" in lines[0], out
    assert "remove" in lines[0] and "run again" in lines[0], out
    assert "Traceback" not in out
