"""Fixtures of the runner tests: a standalone runner on loopback, an orchestrator + gateway."""

from __future__ import annotations

import sys
from pathlib import Path

# Test modules here import their helpers as ``runner_streamkit`` (importlib mode adds no path).
sys.path.insert(0, str(Path(__file__).parent))

from runner_fixtures import RunnerFactory, http, make_runner, orchestrator, runner  # noqa: E402

__all__ = ["RunnerFactory", "http", "make_runner", "orchestrator", "runner"]
