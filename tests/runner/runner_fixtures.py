"""Fixtures shared by the runner and compatibility tests: a standalone runner on loopback (factory),
an HTTP client, and the in-process trickle server playing orchestrator and gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from trickle_live.trickle.config import RunnerConfig

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
