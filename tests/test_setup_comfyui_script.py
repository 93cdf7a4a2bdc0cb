"""scripts/setup-comfyui.sh and torchaudio (issue 20): ComfyUI's audio nodes import torchaudio, so a
venv without it prints three IMPORT FAILED tracebacks at start. The script installs the torchaudio
release of the installed torch (torchaudio X.Y.Z goes with torch X.Y.Z only) when the package index
has it, and otherwise says so in one line naming the three node files, on every run until it is
installed.

Runs the script on a throwaway ComfyUI tree whose venv sees the torch of ``COMFYUI_PATH``'s venv
(a .pth file) and carries the script's own ready marker, so only the torchaudio step runs: it asks
the package index for torchaudio==<torch version> (network), and never touches ComfyUI's venv."""

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


def test_setup_installs_the_matching_torchaudio_or_says_why_not(tmp_path: Path) -> None:
    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        pytest.skip("COMFYUI_PATH is not set: the test borrows its venv's torch")
    comfy_python = str(Path(comfy_path) / "venv" / "bin" / "python")
    if not Path(comfy_python).exists():
        pytest.skip(f"{comfy_python} is missing (run scripts/setup-comfyui.sh first)")
    torch = subprocess.run(
        [comfy_python, "-c", "import torch; print(torch.__version__.split('+')[0])"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    if not torch:
        pytest.skip(f"{comfy_python} has no torch")
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
    # the script's marker: everything but torchaudio is done
    versions = re.search(r'want="(torch==\S+ torchvision==\S+) ', SCRIPT.read_text())
    assert versions, "setup-comfyui.sh no longer writes its marker as expected"
    sums = [
        hashlib.sha1(p.read_bytes()).hexdigest()[:12]
        for p in (fake / "requirements.txt", ROOT / "requirements.txt")
    ]
    (venv / ".trickle-live-ready").write_text(f"{versions.group(1)} {sums[0]} {sums[1]} \n")
    result = subprocess.run(
        ["bash", str(SCRIPT), str(fake)], capture_output=True, text=True, timeout=300, check=False
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Traceback" not in out and out.rstrip().endswith(f"ComfyUI venv ready: {venv}"), out
    has = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import torchaudio; print(torchaudio.__version__)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if has.returncode == 0:
        assert has.stdout.startswith(torch) and f"torchaudio {torch} installed" in out, out
    else:  # no release for this torch: one line that says what it means
        lines = [line for line in out.splitlines() if line.startswith("torchaudio:")]
        assert len(lines) == 1, out
        assert f"torchaudio=={torch}" in lines[0] and "nodes_audio.py" in lines[0], lines
