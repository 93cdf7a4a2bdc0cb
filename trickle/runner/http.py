"""HTTP plumbing shared by the runner, BYOC and pack routes: JSON errors, bodies, auth.

An orchestrator panics on any status other than 200/400/401/422/500 or on a non-JSON body
(runner contract §3.3, go-livepeer #4026), so every handler is wrapped by :func:`guarded`: typed
errors become ``{"detail": {"msg": ..., ...}}`` with 400/401/422/500, anything unexpected a
logged 500 — never 503, never text.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..errors import ValidationError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ALLOWED_ERROR_STATUS = (400, 401, 422, 500)


class ApiError(Exception):
    """An error reply: ``status`` is one of 400/401/422/500; ``detail`` adds fields to the body."""

    def __init__(self, status: int, msg: str, **detail: Any) -> None:
        if status not in ALLOWED_ERROR_STATUS:
            raise ValueError(f"status {status} is not allowed towards an orchestrator")
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.detail = detail


def error_response(status: int, msg: str, **detail: Any) -> web.Response:
    return web.json_response({"detail": {"msg": msg, **detail}}, status=status)


def validation_error(exc: ValidationError, status: int) -> ApiError:
    return ApiError(status, str(exc), **exc.as_dict())


def guarded(handler: Handler) -> Handler:
    """Turn every failure of ``handler`` into an allowed JSON error reply."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            if exc.status >= 500:
                log.warning("%s %s -> %d: %s", request.method, request.path, exc.status, exc.msg)
            return error_response(exc.status, exc.msg, **exc.detail)
        except web.HTTPException as exc:  # aiohttp's own (e.g. 413 from a reader): re-map
            status = 400 if 400 <= exc.status < 500 else 500
            return error_response(status, exc.reason or "bad request")
        except Exception as exc:  # task boundary: an orchestrator must get JSON 500, logged
            log.exception("%s %s failed", request.method, request.path)
            return error_response(500, f"internal error: {type(exc).__name__}: {exc}")

    return wrapper


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes (a larger one is a 400, never aiohttp's 413)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(
            400,
            f"body too large: expected at most {limit} bytes, received {request.content_length}",
        )
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise ApiError(400, f"body too large: expected at most {limit} bytes")
    return bytes(data)


async def read_json(request: web.Request, limit: int, *, empty: Any = None) -> Any:
    """The decoded JSON body, at most ``limit`` bytes; ``empty`` for an empty body when given."""
    data = await read_body(request, limit)
    if not data.strip():
        if empty is not None:
            return empty
        raise ApiError(400, "body: expected a JSON object, received an empty body")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body: expected JSON, received invalid JSON ({exc})") from None


def check_token(request: web.Request, token: str) -> None:
    """``Authorization: Bearer <token>`` when a token is configured (401 JSON otherwise)."""
    if not token:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise ApiError(401, "invalid or missing bearer token")


def json_ok(data: Any = None) -> web.Response:
    return web.json_response({} if data is None else data)
