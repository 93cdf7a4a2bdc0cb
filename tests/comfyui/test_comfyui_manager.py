"""The README's install path through ComfyUI-Manager itself (issue 20): ComfyUI v0.8.0 started with
``--enable-manager`` (``comfyui-manager`` from PyPI, the version ComfyUI's manager_requirements.txt
names), the pack installed through the Manager's own install-from-git-URL API
(``POST /v2/customnode/install/git_url``, the legacy UI's endpoint: ``--enable-manager-legacy-ui``)
from a local git URL, then ComfyUI restarted: the pack loads and its nodes are there.

Installing from a git URL is a "high" risk feature to the Manager: it needs ``security_level =
normal-`` (ComfyUI listening on loopback only, as here) or ``weak`` in
``<user dir>/__manager/config.ini``; the test writes ``normal-`` and ``network_mode = offline`` (the
Manager's bundled node list, nothing fetched), and first checks that the default level refuses it.

Needs a Python with ComfyUI's requirements and ``comfyui-manager``: ``COMFYUI_MANAGER_PYTHON``, else
ComfyUI's own venv when it has the Manager (``pip install -r manager_requirements.txt``); skipped
with the reason otherwise."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.comfyui

ROOT = Path(__file__).resolve().parents[2]
MANAGER_ARGS = ["--enable-manager", "--enable-manager-legacy-ui"]


def _helpers() -> Any:
    name = "trickle_web_comfy_helpers"  # shared with tests/web/conftest.py
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "comfyui" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _manager_python() -> str:
    comfy = os.environ.get("COMFYUI_PATH")
    if not comfy:
        pytest.skip("COMFYUI_PATH is not set: the Manager install test needs a real ComfyUI")
    python = os.environ.get("COMFYUI_MANAGER_PYTHON") or str(
        Path(comfy) / "venv" / "bin" / "python"
    )
    probe = subprocess.run(
        [python, "-c", "import importlib.util as u; print(bool(u.find_spec('comfyui_manager')))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.stdout.strip() != "True":
        pytest.skip(
            f"{python} has no comfyui-manager: pip install -r $COMFYUI_PATH/manager_requirements.txt"
            " (or set COMFYUI_MANAGER_PYTHON to a Python that has it)"
        )
    return python


def _post_text(url: str, text: str) -> int:
    req = urllib.request.Request(url, data=text.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _config(base: Path, level: str) -> None:
    folder = base / "user" / "__manager"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.ini").write_text(
        f"[default]\nsecurity_level = {level}\nnetwork_mode = offline\n"
    )


def test_the_manager_installs_the_pack_from_a_git_url(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    python = _manager_python()
    helpers = _helpers()
    # the pack as a user's git remote: a bare clone of this checkout's HEAD; file://localhost/...
    # (the Manager takes only URLs with a host, and git clones this one locally)
    remote = tmp_path_factory.mktemp("remote") / "trickle-live.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(ROOT), str(remote)], check=True)
    url = f"file://localhost{remote}"
    endpoint = "/v2/customnode/install/git_url"
    with helpers.boot(
        tmp_path_factory, "comfy-manager", skip_reason="COMFYUI_PATH is not set",
        args=MANAGER_ARGS, link_pack=False, python=python,
        prepare=lambda b: _config(b, "normal"),
    ) as comfy:  # fmt: skip
        base = comfy.base
        assert "TrickleInput" not in comfy.get("/object_info")
        assert _post_text(comfy.url + endpoint, url) == 403  # the default level refuses a git URL
    _config(base, "normal-")  # read at start-up
    with helpers.boot(
        tmp_path_factory, "comfy-manager", skip_reason="COMFYUI_PATH is not set",
        args=MANAGER_ARGS, base=base, python=python,
    ) as comfy:  # fmt: skip
        status = _post_text(comfy.url + endpoint, url)
        assert status == 200, (status, comfy.log()[-3000:])
    installed = base / "custom_nodes" / "trickle-live"
    assert (installed / ".git").exists() and not installed.is_symlink()
    assert (installed / "__init__.py").is_file()
    with helpers.boot(
        tmp_path_factory, "comfy-manager", skip_reason="COMFYUI_PATH is not set",
        args=MANAGER_ARGS, base=base, python=python,
    ) as comfy:  # fmt: skip
        info = comfy.get("/object_info")
        assert {"TrickleInput", "TrickleOutput"} <= set(info), sorted(info)[:20]
        log = comfy.log()
        failed = [
            line for line in log.splitlines() if "Cannot import" in line or "IMPORT FAILED" in line
        ]
        assert not [line for line in failed if "trickle-live" in line], failed
        assert comfy.get("/trickle/status")["health"] == "IDLE"
