"""An in-process trickle server with go-livepeer's semantics (reference ``trickle-protocol.md`` §3–4).

Mount it on any aiohttp application (``register``) under a base path (go-livepeer uses
``/ai/trickle/``), or let it listen by itself (``serve``). Channels are created in-process
(``create_channel``, what an orchestrator does), by ``POST /<ch>`` or by a first publish when
``autocreate`` is on. Deliberate differences from go-livepeer are listed in ``docs/protocol.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from typing import Any

from aiohttp import web

from ..redaction import short_name
from .channel import Channel
from .server_handlers import Hook, HookError, TrickleHandlers

__all__ = ["Hook", "HookError", "TrickleServer"]

log = logging.getLogger(__name__)


class TrickleServer:
    """Channels, their HTTP routes and the idle sweeper."""

    def __init__(
        self,
        base_path: str = "/",
        *,
        autocreate: bool = False,
        idle_timeout: float = 300.0,
        sweep_interval: float = 60.0,
        continue_interval: float = 10.0,
        disconnect_poll: float = 1.0,
        before_create: Hook | None = None,
        before_delete: Hook | None = None,
    ) -> None:
        self.base_path = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
        self.autocreate = autocreate
        self.idle_timeout = idle_timeout
        self.sweep_interval = sweep_interval
        self.continue_interval = continue_interval  # 100 Continue while a POST waits for bytes
        self.disconnect_poll = disconnect_poll  # how often a parked GET checks its client is there
        self.before_create = before_create  # go-livepeer's BeforeCreate hook (HTTP create only)
        self.before_delete = before_delete  # go-livepeer's BeforeDelete hook (HTTP delete only)
        self.channels: dict[str, Channel] = {}
        self.url: str | None = None  # set by serve()
        self._sweeper: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None

    def register(self, app_or_router: Any) -> None:
        """Add the routes under ``base_path`` to a web.Application, its router or a RouteTableDef."""
        handlers = TrickleHandlers(self)
        base = self.base_path
        routes = [
            ("POST", base + "{channel}", handlers.create),
            ("DELETE", base + "{channel}", handlers.delete),
            ("GET", base + "{channel}/{seq}", handlers.get),
            ("POST", base + "{channel}/{seq}", handlers.post),
            ("DELETE", base + "{channel}/{seq}", handlers.delete_seq),
        ]
        router = getattr(app_or_router, "router", app_or_router)
        for method, path, handler in routes:
            if hasattr(router, "add_route"):
                router.add_route(method, path, handler)
            else:  # web.RouteTableDef, e.g. ComfyUI's PromptServer.instance.routes
                router.route(method, path)(handler)

    def create_channel(self, name: str, mime_type: str = "video/mp2t") -> Channel:
        """Create a channel (a no-op if it exists), as an orchestrator does before a job starts;
        returns it."""
        channel = self.channels.get(name)
        if channel is None:
            channel = self.channels[name] = Channel(name, mime_type)
            log.debug("channel %s created (%s)", short_name(name), mime_type)
        return channel

    def delete_channel(self, name: str) -> bool:
        """Close and remove a channel: readers see ``Lp-Trickle-Closed``, then 404. False if absent."""
        channel = self.channels.pop(name, None)
        if channel is None:
            return False
        channel.close()
        log.debug("channel %s deleted", short_name(name))
        return True

    def channel_names(self) -> list[str]:
        return sorted(self.channels)

    def get_channel(self, name: str) -> Channel | None:
        return self.channels.get(name)

    async def start(self) -> None:
        """Start the idle sweeper (channels with no segment start for ``idle_timeout`` go away)."""
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="trickle-idle-sweep")

    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> str:
        """Listen on ``host:port`` (0 = any free port) by itself; returns the base URL."""
        app = web.Application()
        self.register(app)
        # lingering_time=0: a POST answered before its body ended (a released preconnect) gets its
        # connection closed at once instead of aiohttp reading the rest for up to 10 s
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=2.0, lingering_time=0
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://{host}:{bound}{self.base_path}"
        await self.start()
        log.info("trickle server listening on %s", self.url)
        return self.url

    async def close(self) -> None:
        """Stop sweeping, close every channel (releasing all waiting requests), stop listening."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for name in list(self.channels):
            self.delete_channel(name)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def sweep_idle(self) -> list[str]:
        """Delete channels idle longer than ``idle_timeout`` (names starting with ``_`` are kept)."""
        limit = time.monotonic() - self.idle_timeout
        idle = [
            name
            for name, ch in self.channels.items()
            if not name.startswith("_") and ch.write_time < limit
        ]
        for name in idle:
            log.info("channel %s idle for %.0fs: deleted", short_name(name), self.idle_timeout)
            self.delete_channel(name)
        return idle

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            self.sweep_idle()

    async def __aenter__(self) -> TrickleServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
