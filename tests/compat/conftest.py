"""Fixtures of the compatibility tests: a standalone runner on loopback, the in-process trickle
server playing the orchestrator and a gateway, and an HTTP client.

The stream helpers of the runner tests (``runner_streamkit``: generated clips whose frames carry
their number as a barcode, decoding, waiting) are reused, loaded from ``tests/runner``.
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "runner"))  # runner_streamkit, runner_fixtures
sys.path.insert(0, str(Path(__file__).parent))  # compat_kit

from runner_fixtures import RunnerFactory, http, make_runner, orchestrator  # noqa: E402

__all__ = ["RunnerFactory", "http", "make_runner", "orchestrator"]
