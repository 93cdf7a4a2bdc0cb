"""The guard for ComfyUI's own port: refuse requests an orchestrator proxied from a live session.

go-livepeer's live-runner proxy forwards *any* path under a session URL to the runner's host, and
a path prefix in ``runner_url`` does not confine it (``..%2F`` and ``%2e%2e/`` escapes). So the
live-runner app runs on its own port (see :mod:`.site`), and ComfyUI's port refuses every request
that carries the headers the orchestrator always sets on proxied traffic (``Livepeer-Runner-Route``,
``Livepeer-Session-Id``; the orchestrator overwrites whatever the client sent). Install it as the
outermost middleware of PromptServer's app::

    app.middlewares.insert(0, proxied_request_guard())

The decision uses headers only, never the path, so no encoding trick gets around it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

PROXY_HEADERS = ("Livepeer-Runner-Route", "Livepeer-Session-Id")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_proxied(request: web.BaseRequest) -> bool:
    """Whether the request carries a live-runner proxy header (any value, any letter case)."""
    return any(name in request.headers for name in PROXY_HEADERS)


def proxied_request_guard(
    *, message: str = "live-runner traffic is not served on this port"
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """An aiohttp middleware that answers 403 JSON to every proxied live-runner request."""
    refused = 0

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal refused
        if not is_proxied(request):
            return await handler(request)
        refused += 1
        if refused == 1 or refused % 100 == 0:
            log.warning(
                "refused %d proxied live-runner request(s) on a non-live-runner port (latest: %s %s from %s)",
                refused,
                request.method,
                request.raw_path[:80],
                request.remote,
            )
        return web.json_response({"detail": {"msg": message}}, status=403)

    return guard
