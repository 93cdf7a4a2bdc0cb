"""The standalone runner: the runner, BYOC and pack routes on a bare aiohttp app, no ComfyUI.

``build_app`` makes the ``web.Application`` (tests mount it on a loopback port); ``RunnerServer``
runs it (the ``runner`` and ``demo`` commands).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from ..config import RunnerConfig
from ..session.manager import ProcessorFactory, StreamManager
from ..session.workflow_spec import workflow_factory
from .api import RunnerAPI
from .json_errors import JsonErrorAppRunner, json_errors_middleware, runner_status
from .registration import ByocRegistrar
from .routes import Mounted, mount

log = logging.getLogger(__name__)

API_KEY = web.AppKey("trickle_runner_api", RunnerAPI)
MOUNTED_KEY = web.AppKey("trickle_runner_routes", Mounted)


def build_app(
    config: RunnerConfig,
    processor: str | ProcessorFactory = "passthrough",
    *,
    public_url: str = "",
    readiness: Callable[[], str | None] | None = None,
) -> web.Application:
    """An app serving every route; ``public_url`` is the URL a BYOC orchestrator reaches us at.

    ``processor``: a processor name (a stream whose ``params.prompt(s)`` holds a graph gets the
    processor computing that graph, see ``session/workflow_spec.py``) or a factory."""
    factory = workflow_factory(processor) if isinstance(processor, str) else processor
    manager = StreamManager(config, factory)
    api = RunnerAPI(manager, config, readiness=readiness)
    # Our own limit applies per route (read_body); aiohttp's must not answer 413 first.
    app = web.Application(
        client_max_size=config.max_body_bytes * 2,
        middlewares=[json_errors_middleware(runner_status)],  # aiohttp's own answers as JSON too
    )
    mounted = mount(app, api, api_aliases=True)
    app[API_KEY] = api
    app[MOUNTED_KEY] = mounted
    registrar: list[ByocRegistrar] = []

    async def on_startup(_: web.Application) -> None:
        if config.byoc_orch_url:
            reg = ByocRegistrar(config, manager, public_url)
            registrar.append(reg)
            if mounted.pack is not None:
                mounted.pack.sections["byoc"] = reg.status
            await reg.start()

    async def on_shutdown(_: web.Application) -> None:
        await manager.close()
        for reg in registrar:
            await reg.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app


class RunnerServer:
    """Serve an app on ``host:port`` (port 0: any free port); ``url`` once started."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.url = ""
        self._runner: web.AppRunner | None = None

    @property
    def api(self) -> RunnerAPI:
        return self.app[API_KEY]

    async def start(self) -> str:
        self._runner = JsonErrorAppRunner(self.app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else self.port
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        self.url = f"http://{shown}:{port}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
