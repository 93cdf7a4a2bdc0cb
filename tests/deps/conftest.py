"""The dependency-floor tests use the runner fixtures (a standalone runner on loopback)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "runner"))

from runner_fixtures import http, make_runner, orchestrator  # noqa: E402

__all__ = ["http", "make_runner", "orchestrator"]
