"""pyproject.toml against the Comfy Registry's documented rules (docs.comfy.org/registry/
specifications): node id, semantic version, license, Repository, PublisherId, DisplayName, a
square Icon that is a file of this repository, and the ComfyUI version the pack needs
(``requires-comfyui``: the panel uses frontend 1.35 APIs, the templates and the Manager path are
tested on v0.8.0). Then ``comfy node validate`` (comfy-cli) when it is installed
(``$COMFY_CLI`` or ``comfy`` on PATH), and ComfyUI's own parser (``comfy_config``) when
``COMFYUI_PATH`` is set."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RAW = "https://raw.githubusercontent.com/"


def test_project_section_follows_the_registry_rules() -> None:
    project = PYPROJECT["project"]
    name = project["name"]
    assert len(name) < 100 and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*([._-][A-Za-z0-9]+)*", name)
    assert "comfyui" not in name.lower()
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert (ROOT / project["license"]["file"]).is_file()
    assert project["description"]
    repository = project["urls"]["Repository"]
    assert repository.startswith("https://github.com/")
    requirements = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert project["dependencies"] == requirements  # what the Manager installs = what we declare


def test_tool_comfy_section_follows_the_registry_rules() -> None:
    comfy = PYPROJECT["tool"]["comfy"]
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", comfy["PublisherId"])
    assert comfy["DisplayName"]
    icon = comfy["Icon"]
    # the icon is this repository's own file, served raw from its main branch
    repo = PYPROJECT["project"]["urls"]["Repository"].removeprefix("https://github.com/")
    prefix = f"{RAW}{repo}/main/"
    assert icon.startswith(prefix), icon
    svg = (ROOT / icon.removeprefix(prefix)).read_text()
    view = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    assert view and view.group(1) == view.group(2) and int(view.group(1)) <= 400  # square, ≤400
    assert comfy.get("requires-comfyui") == ">=0.8.0"


def test_comfy_cli_validates_the_node() -> None:
    comfy = os.environ.get("COMFY_CLI") or shutil.which("comfy")
    if not comfy:
        pytest.skip("comfy-cli is not installed (pip install comfy-cli; or set COMFY_CLI)")
    result = subprocess.run(
        [comfy, "--skip-prompt", "--no-enable-telemetry", "node", "validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0 and "All validation checks passed" in out, out


def test_comfyuis_own_parser_reads_it() -> None:
    comfy = os.environ.get("COMFYUI_PATH")
    if not comfy:
        pytest.skip("COMFYUI_PATH is not set")
    python = os.environ.get("COMFYUI_PYTHON") or str(Path(comfy) / "venv" / "bin" / "python")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from comfy_config import config_parser as p;"
        "c = p.extract_node_configuration(sys.argv[2]);"
        "print(c.project.name, c.project.version, c.tool_comfy.publisher_id,"
        " c.project.supported_comfyui_version)"
    )
    result = subprocess.run(
        [python, "-c", code, comfy, str(ROOT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["trickle-live", "0.1.0", "trickle-live", ">=0.8.0"]
