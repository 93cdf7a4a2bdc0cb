"""Every answer of an app we own is JSON ``{"detail": {"msg": ...}}``, aiohttp's own included.

aiohttp answers some requests itself, in text: 404 and 405 from the router, 413 for a body over
``client_max_size``, 417 for an unknown ``Expect``, and 400 for a request it cannot parse (bad
request line, header, ``Content-Length``). An orchestrator decoding that as JSON fails. Two hooks
turn each into the documented JSON error, with the status ``status_for`` maps it to:

- :func:`json_errors_middleware`, on the app: router and handler errors, error responses that
  are not JSON, and unexpected exceptions (a logged 500);
- :class:`JsonErrorAppRunner`, serving the app: what aiohttp answers outside the middlewares
  (an ``Expect`` header is answered before them; an unparseable request never reaches the app).

``runner_status`` keeps the runner contract's statuses (400/401/422/500 only); ``http_status``
keeps the status aiohttp chose (the live-runner app, whose contract has 404, 409 and 502).

ComfyUI's port is not ours. There the pack's handlers answer JSON (``http.guarded``) and
:func:`paths_middleware` turns aiohttp's errors into JSON for our paths only (a wrong method on
one of them); ComfyUI answers everything else, ``Expect: bogus`` and malformed requests too
(route ``expect_handler`` kwargs would break ComfyUI's ``/api`` mirroring of the route table).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ..jsonsafe import json_response
from .http import Handler, settle_body

log = logging.getLogger(__name__)

StatusFor = Callable[[int], int]


def runner_status(status: int) -> int:
    """The runner contract allows 400/401/422/500: other 4xx → 400, 5xx → 500."""
    if status in (400, 401, 422, 500):
        return status
    return 400 if 400 <= status < 500 else 500


def http_status(status: int) -> int:
    return status


def error_json(status: int, msg: str, status_for: StatusFor) -> web.Response:
    return json_response({"detail": {"msg": msg}}, status=status_for(status))


def _describe(status: int, text: str | None, reason: str | None) -> str:
    """A one-line message: aiohttp's text when it says more than the reason phrase."""
    first = (text or "").strip().splitlines()
    detail = first[0].strip() if first else ""
    reason = reason or "error"
    if not detail or detail.lower().startswith(str(status)):
        detail = reason
    return (detail if detail.lower() == reason.lower() else f"{reason}: {detail}")[:300]


def _as_json(resp: web.StreamResponse, status_for: StatusFor) -> web.StreamResponse:
    """An error response that is not JSON (or has a status to map) → the JSON error."""
    if resp.status < 400 or resp.prepared:
        return resp
    is_json = (resp.content_type or "") == "application/json"
    if is_json and status_for(resp.status) == resp.status:
        return resp
    text = None
    if isinstance(resp, web.Response) and not is_json:
        try:
            text = resp.text
        except (UnicodeDecodeError, LookupError):  # a binary error body: the reason phrase
            text = None
    out = error_json(resp.status, _describe(resp.status, text, resp.reason), status_for)
    if isinstance(resp, web.Response) and is_json and resp.body is not None:
        out.body = resp.body  # already JSON: only the status changes
    return out


def _from_exception(exc: web.HTTPException, status_for: StatusFor) -> web.StreamResponse:
    out = error_json(exc.status, _describe(exc.status, exc.text, exc.reason), status_for)
    for name in ("Allow",):
        if name in exc.headers:
            out.headers[name] = exc.headers[name]
    return out


def json_errors_middleware(status_for: StatusFor = runner_status) -> Any:
    """The app middleware (see the module doc)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _from_exception(exc, status_for)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:  # a handler without its own guard: JSON 500, logged
            log.exception("%s %s failed", request.method, request.path)
            return error_json(500, f"internal error: {type(exc).__name__}", status_for)
        resp = _as_json(resp, status_for)
        await settle_body(request, resp)
        return resp

    return middleware


def _guard_outside(handler: Any, status_for: StatusFor) -> Any:
    """Wrap the server's request handler: what aiohttp raises before the middlewares run."""

    async def guarded(request: web.BaseRequest) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _from_exception(exc, status_for)
        return _as_json(resp, status_for)

    return guarded


class _JsonRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering an unparseable request with the JSON error."""

    status_for: StatusFor  # set by _JsonServer (an instance attribute: no method binding)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        text = super().handle_error(request, status, exc, message)  # logs; checks nothing was sent
        reason = text.reason if isinstance(text, web.StreamResponse) else None
        out = error_json(status, _describe(status, message, reason), self.status_for)
        out.force_close()
        return out


class _JsonServer(web.Server):
    status_for: StatusFor  # set by JsonErrorAppRunner

    def __call__(self) -> RequestHandler:
        handler = _JsonRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.status_for = self.status_for
        return handler


class JsonErrorAppRunner(web.AppRunner):
    """``web.AppRunner`` whose server answers aiohttp's own errors as JSON (see the module doc)."""

    def __init__(
        self, app: web.Application, *, status_for: StatusFor = runner_status, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self._status_for = status_for

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.request_handler = _guard_outside(server.request_handler, self._status_for)
        # the same object, answering with JSON: aiohttp builds the server inside the app and
        # offers no hook for the connection handler's error answers (tested on the oldest and
        # the newest aiohttp, tests/deps)
        server.__class__ = _JsonServer
        assert isinstance(server, _JsonServer)
        server.status_for = self._status_for
        return server


def _path_pattern(path: str) -> re.Pattern[str]:
    """An aiohttp route path (``/trickle/streams/{stream_id}/stop``) as a full-match regex."""
    return re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)))


def paths_middleware(paths: Iterable[str], status_for: StatusFor = runner_status) -> Any:
    """A middleware for a host's app: aiohttp's errors as JSON on ``paths`` only.

    A method we do not serve on one of our paths may be matched by a host's catch-all (ComfyUI
    serves its frontend with ``web.static("/")``, whose missing-file answer is an empty 404 made
    after the middlewares): a request on our path whose matched route is not ours is answered
    405 (mapped by ``status_for``) here."""
    canonical = set(paths)
    patterns = [_path_pattern(p) for p in canonical]

    def ours(path: str) -> bool:
        return any(pattern.fullmatch(path) for pattern in patterns)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route
        resource = route.resource if route is not None else None
        if resource is not None and resource.canonical not in canonical and ours(request.path):
            return error_json(405, f"Method Not Allowed: {request.method}", status_for)
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400 or not ours(request.path):
                raise
            return _from_exception(exc, status_for)
        return _as_json(resp, status_for) if ours(request.path) else resp

    return middleware
