"""The live-runner app's own aiohttp site: its own port, inside an existing event loop.

An orchestrator proxies *any* path under a session URL to the runner's host and port (reference
livepeer-docs-and-live-runners §11), so the app must never share ComfyUI's port. This site serves
only the app's routes; ComfyUI's (``/prompt``, uploads, Manager) are not on it, whatever the path.
"""

from __future__ import annotations

import logging

from aiohttp import web

from ..runner.json_errors import JsonErrorAppRunner, http_status

log = logging.getLogger(__name__)


class LiveRunnerSite:
    """Starts and stops one :class:`web.Application` on ``host:port`` in the running loop."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port  # 0 = an ephemeral port (tests); the bound one after start()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self._runner is not None:
            return
        runner = JsonErrorAppRunner(
            self.app, status_for=http_status, handle_signals=False, access_log=None
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        log.info("live-runner app listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("live-runner app on port %d stopped", self.port)

    @property
    def running(self) -> bool:
        return self._runner is not None
