"""Fixtures of the runner tests: a standalone runner on loopback, an orchestrator + gateway."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from trickle_live.trickle.config import RunnerConfig

RunnerFactory = Callable[..., Awaitable[Any]]

# Test modules here import their helpers as ``runner_streamkit`` (importlib mode adds no path).
sys.path.insert(0, str(Path(__file__).parent))


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
async def runner(make_runner: RunnerFactory) -> Any:
    return await make_runner()


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
