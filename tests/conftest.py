"""Test setup: load the repository root as the package ``trickle_live`` (its real import shape)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "trickle_live"

if PACKAGE not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        PACKAGE, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[PACKAGE] = _module
    _spec.loader.exec_module(_module)


# The test command runs on two pytest-xdist workers with ``--dist loadgroup``. Every test that
# starts a real ComfyUI (tests/comfyui, tests/web, tests/compat) goes to one group, so two
# ComfyUIs never compute at the same time on the same cores (their torch threads would starve
# each other and the real-time assertions with them); every other file is a group of its own, so
# a file's module-scoped fixtures stay on one worker.
COMFYUI_DIRS = {"comfyui", "web", "compat"}


def pytest_collection_modifyitems(config: object, items: list[pytest.Item]) -> None:
    tests = ROOT / "tests"
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        rel = item.path.relative_to(tests)
        group = "comfyui" if rel.parts[0] in COMFYUI_DIRS else rel.as_posix()
        item.add_marker(pytest.mark.xdist_group(group))
