"""Browsers cannot drive the runner: state-changing requests from another site are refused.

A web page the operator visits can send ``POST`` requests to ``http://127.0.0.1:<port>`` (a form,
or ``fetch`` with ``mode: "no-cors"``); without a check, it could start streams towards any URL or
change settings. The rule follows ComfyUI-Manager's CSRF guard (refuse the Content-Types a page
may send without a CORS preflight; this server answers no preflight) and ComfyUI's own
origin check, and adds the Fetch metadata browsers send:

For ``POST``/``PUT``/``PATCH``/``DELETE``, unless the request carries the configured bearer token:

1. ``Sec-Fetch-Site`` other than ``same-origin`` or ``none`` → 400 (a browser says another site
   sent it);
2. an ``Origin`` that is not this server's (host and port of the ``Host`` header; ``null``
   included) → 400, unless ``Sec-Fetch-Site: same-origin`` vouches for it (a proxy rewrote
   ``Host``);
3. a Content-Type a cross-site form can send (``text/plain``, ``application/x-www-form-urlencoded``,
   ``multipart/form-data``) → 400: send ``application/json`` (or no body).

Every refusal is a 400 JSON error naming the header in ``field`` (the runner contract's statuses:
400/401/422/500 only, on every route; an orchestrator never sends these headers anyway).

Orchestrators, gateways and scripts send none of these browser headers and JSON (or, go-livepeer's
BYOC stop call, no Content-Type at all), so they pass. The panel's calls are same-origin JSON.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web

from .http import Handler, error_response

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_CONTENT_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
TRUSTED_SITES = ("same-origin", "none")

TokenSource = Callable[[], str]


def has_token(request: web.Request, token: str) -> bool:
    """The request carries ``Authorization: Bearer <token>`` for a configured token."""
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def refusal(request: web.Request, token: str = "") -> web.Response | None:
    """The error answer for a cross-site (or form-typed) state-changing request, else None."""
    if request.method not in UNSAFE_METHODS or has_token(request, token):
        return None
    site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    origin = request.headers.get("Origin")
    if site and site not in TRUSTED_SITES:
        return _cross_site(request, "Sec-Fetch-Site", "same-origin", site)
    if origin is not None and site != "same-origin" and not same_origin(origin, request):
        return _cross_site(request, "Origin", "this server's own origin", origin)
    content_type = request.headers.get("Content-Type")
    if content_type is not None and request.content_type in FORM_CONTENT_TYPES:
        return error_response(
            400,
            f"Content-Type: expected application/json, received {request.content_type}",
            field="Content-Type",
            expected="application/json",
            received=request.content_type,
        )
    return None


def same_origin(origin: str, request: web.Request) -> bool:
    """``origin`` names the host (and port) this request was sent to (ComfyUI's comparison: when
    either side lacks a port, the host names alone are compared)."""
    host = request.headers.get("Host", "")
    try:
        theirs = urlsplit(origin.strip())
        ours = urlsplit("//" + host)
        their_port, our_port = theirs.port, ours.port
    except ValueError:
        return False
    if not theirs.hostname or not ours.hostname or theirs.scheme not in ("http", "https"):
        return False
    if theirs.hostname.lower() != ours.hostname.lower():
        return False
    return their_port is None or our_port is None or their_port == our_port


def csrf_protected(handler: Handler, token: TokenSource | None = None) -> Handler:
    """``handler`` behind :func:`refusal`; ``token()`` is read per request (it may change)."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        answer = refusal(request, token() if token is not None else "")
        if answer is not None:
            return answer
        return await handler(request)

    return wrapper


def _cross_site(request: web.Request, header: str, expected: str, received: str) -> web.Response:
    log.warning(
        "%s %s refused: cross-site request (%s: %.80r)",
        request.method,
        request.path,
        header,
        received,
    )
    return error_response(
        400,
        f"cross-site request refused ({header}: {received[:80]}): the runner's state-changing "
        "routes take requests from its own pages, or with the bearer token",
        field=header,
        expected=expected,
        received=received[:200],
    )
