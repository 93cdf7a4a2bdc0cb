"""HTTP client sessions for trickle URLs.

Orchestrators serve trickle over https with a self-signed certificate, so certificate checks are
off by default for trickle URLs (as every Python client and go-livepeer's gateway do) and on by
option. Timeouts are the callers' business (each wait in the clients has its own): the session
itself only bounds connection set-up. Redirects are never followed: a 3xx answer raises
:class:`~trickle.errors.RedirectRefused` (a channel URL is a capability; go-livepeer's trickle
server never redirects), so a request never reaches a host the start request did not name.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp

from ..errors import RedirectRefused
from ..jsonsafe import dumps

CONNECT_TIMEOUT = 10.0


def ssl_setting(
    verify_tls: bool, ssl_context: ssl.SSLContext | None = None
) -> ssl.SSLContext | bool:
    """What aiohttp's ``ssl=`` takes: False (no checks), or a verifying context."""
    if ssl_context is not None:
        return ssl_context
    return ssl.create_default_context() if verify_tls else False


def make_client_session(
    *, verify_tls: bool = False, ssl_context: ssl.SSLContext | None = None, **kw: Any
) -> aiohttp.ClientSession:
    """A ClientSession for trickle: TLS verification off unless asked, no overall request timeout.

    ``ssl_context`` (optional) is used instead of the default verifying context, e.g. to trust a
    private CA. Other keyword arguments go to :class:`aiohttp.ClientSession`. ``json=`` bodies are
    written by :func:`..jsonsafe.dumps` (never a non-finite number: orchestrators decode with Go).
    """
    kw.setdefault("json_serialize", dumps)
    connector = aiohttp.TCPConnector(
        ssl=ssl_setting(verify_tls or ssl_context is not None, ssl_context)
    )
    kw.setdefault(
        "timeout",
        aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=None),
    )
    kw["trace_configs"] = [*kw.get("trace_configs", []), no_redirects()]
    return aiohttp.ClientSession(connector=connector, **kw)


class ClientSessionSlot:
    """A trickle client's session: the caller's (left open), or its own, made on first use and
    closed by :meth:`close`."""

    def __init__(self, session: aiohttp.ClientSession | None, *, verify_tls: bool) -> None:
        self._session = session
        self._own = session is None
        self._verify_tls = verify_tls

    def get(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = make_client_session(verify_tls=self._verify_tls)
        return self._session

    async def close(self) -> None:
        """Close an own session (a later :meth:`get` makes a new one); a caller's stays open."""
        if self._own and self._session is not None:
            await self._session.close()
            self._session = None


def no_redirects() -> aiohttp.TraceConfig:
    """A trace that refuses every redirect before aiohttp follows it (any method, any call)."""

    async def refuse(
        session: aiohttp.ClientSession, ctx: Any, params: aiohttp.TraceRequestRedirectParams
    ) -> None:
        params.response.close()
        raise RedirectRefused(str(params.url), params.response.status)

    trace = aiohttp.TraceConfig()
    trace.on_request_redirect.append(refuse)
    return trace
