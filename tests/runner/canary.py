"""Loopback listeners that prove where the runner's requests went: a canary that records every
request it receives (and answers 404), and a redirector that answers every request with a redirect to the canary."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class Listener:
    """An aiohttp app on 127.0.0.1 (an ephemeral port) that records ``(method, path)`` of each
    request and answers ``answer(request)``."""

    def __init__(self, answer: Any = None) -> None:
        self.seen: list[tuple[str, str]] = []
        self._answer = answer
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path_qs))
        if self._answer is not None:
            return self._answer(request)  # type: ignore[no-any-return]
        return web.json_response({}, status=404)  # a trickle client stops at once on a 404

    async def start(self) -> Listener:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def redirect_to(target: str) -> Any:
    """An answer: 307 to ``target`` + the request's path (any method)."""

    def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=307, headers={"Location": target + request.path})

    return answer
