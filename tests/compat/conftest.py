"""Fixtures of the compatibility tests: a standalone runner on loopback, the in-process trickle
server playing the orchestrator and a gateway, and an HTTP client.

The stream helpers of the runner tests (``runner_streamkit``: generated clips whose frames carry
their number as a barcode, decoding, waiting) are reused, loaded from ``tests/runner``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from trickle_live.trickle.config import RunnerConfig

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "runner"))  # runner_streamkit
sys.path.insert(0, str(Path(__file__).parent))  # compat_kit

RunnerFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_runner() -> AsyncIterator[RunnerFactory]:
    """``await make_runner(processor="invert", **config)`` → a started RunnerServer."""
    from trickle_live.trickle.runner.app import RunnerServer, build_app

    servers: list[RunnerServer] = []

    async def make(processor: Any = "passthrough", **config: Any) -> RunnerServer:
        server = RunnerServer(build_app(RunnerConfig(**config), processor))
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def orchestrator() -> AsyncIterator[Any]:
    from trickle_live.trickle.runner.simulator import LocalOrchestrator

    orch = LocalOrchestrator()
    await orch.start()
    yield orch
    await orch.close()
