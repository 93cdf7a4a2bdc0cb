"""The standalone runner app with the editor panel's routes (no ComfyUI), for the panel backend
tests: :func:`serve_panel` starts it on loopback, :class:`Panel` calls it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from trickle_live.nodes.store import WorkflowStore
from trickle_live.routes.panel import panel_settings, register_panel
from trickle_live.trickle.config import RunnerConfig
from trickle_live.trickle.runner.app import RunnerServer, build_app


class Panel:
    def __init__(self, server: RunnerServer, http: aiohttp.ClientSession, root: Path) -> None:
        self.server, self.http, self.root = server, http, root
        self.token = ""  # sent once set: settings changes and preview frames need it then

    async def call(
        self, method: str, path: str, body: Any = None, data: bytes | None = None
    ) -> tuple[int, Any]:
        """A JSON ``body`` or raw ``data``; the answer's JSON, else its bytes."""
        kw: dict[str, Any] = {"json": body} if body is not None else {"data": data}
        if self.token:
            kw["headers"] = {"Authorization": f"Bearer {self.token}"}
        async with self.http.request(method, self.server.url + path, **kw) as resp:
            raw = await resp.read()
            if resp.content_type == "application/json":
                return resp.status, json.loads(raw)
            return resp.status, raw


@asynccontextmanager
async def serve_panel(tmp_path: Path) -> AsyncIterator[Panel]:
    """The runner app ("invert") with the panel's routes, its user directory in ``tmp_path``."""
    store = WorkflowStore(tmp_path / "trickle-live" / "workflows")
    settings = panel_settings(store)
    settings.env = {}  # the test's own environment: nothing set
    app = build_app(RunnerConfig(), "invert")
    _, loopback = register_panel(app, store, settings)
    server = RunnerServer(app)
    await server.start()
    settings.attach(server.api, server.api.manager)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        try:
            yield Panel(server, http, tmp_path / "trickle-live")
        finally:
            await loopback.close()
            await server.close()


async def wait_for(predicate: Any, timeout: float = 15.0) -> Any:
    """The first truthy value of ``await predicate()``, polled every 0.1 s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")
