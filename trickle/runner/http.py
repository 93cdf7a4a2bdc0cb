"""HTTP plumbing shared by the runner, BYOC and pack routes: JSON errors, bodies, auth.

An orchestrator panics on any status other than 200/400/401/422/500 or on a non-JSON body
(go-livepeer #4026), so every handler is wrapped by :func:`guarded`: typed
errors become ``{"detail": {"msg": ..., ...}}`` with 400/401/422/500, anything unexpected a
logged 500 — never 503, never text.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from ..errors import ValidationError
from ..jsonsafe import JsonInputError, json_response, loads

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ALLOWED_ERROR_STATUS = (400, 401, 422, 500)
SETTLE_BYTES = 1 << 20  # what is read of a body a handler answered without reading


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
    return json_response({"detail": {"msg": msg, **detail}}, status=status)


def validation_error(exc: ValidationError, status: int) -> ApiError:
    return ApiError(status, str(exc), **exc.as_dict())


def guarded(handler: Handler) -> Handler:
    """Turn every failure of ``handler`` into an allowed JSON error reply."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        resp = await answer(request)
        await settle_body(request, resp)
        return resp

    async def answer(request: web.Request) -> web.StreamResponse:
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
    try:
        async for chunk in request.content.iter_chunked(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise ApiError(400, f"body too large: expected at most {limit} bytes")
    except RequestPayloadError as exc:  # e.g. Content-Encoding: gzip on bytes that are not
        end_broken_body(request)
        raise ApiError(400, f"body: unreadable ({_first_line(exc)})") from None
    return bytes(data)


def end_broken_body(request: web.BaseRequest) -> None:
    """After a body that failed to decode: nothing more to read (aiohttp would otherwise read
    the rest after the answer and log the failure again as an unhandled exception)."""
    request.content.feed_eof()


async def settle_body(request: web.BaseRequest, resp: web.StreamResponse) -> None:
    """Before answering: read what the handler left of the body (at most SETTLE_BYTES). A body
    that fails to decode (bad gzip) or is longer closes the connection after the answer, so the
    client does not send its next request on a connection aiohttp is about to drop."""
    content = request.content
    read = 0
    try:  # at_eof: also what is buffered is read (an unread buffer keeps the socket paused)
        while not content.at_eof() and read <= SETTLE_BYTES:
            chunk = await content.readany()
            if not chunk:
                break
            read += len(chunk)
    except RequestPayloadError:
        end_broken_body(request)
    if content.exception() is not None or not content.at_eof():
        resp.force_close()


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines)[:200] or type(exc).__name__


async def read_json(request: web.Request, limit: int, *, empty: Any = None) -> Any:
    """The decoded JSON body, at most ``limit`` bytes; ``empty`` for an empty body when given."""
    data = await read_body(request, limit)
    if not data.strip():
        if empty is not None:
            return empty
        raise ApiError(400, "body: expected a JSON object, received an empty body")
    try:
        return loads(data)
    except JsonInputError as exc:  # NaN, 1e999, deep nesting and huge integers included
        raise ApiError(400, f"body: expected JSON, received {exc}") from None


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
    return json_response({} if data is None else data)
