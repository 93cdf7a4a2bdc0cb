"""Typed errors shared by every layer of ``trickle/``.

Each error carries the facts a person needs to act on it: the URL and HTTP status for protocol
errors, the field, the expected and the received value for validation errors. Channel URLs are
capabilities: ``.url`` keeps the full URL for code, ``str(exc)`` shows only a redacted form
(:mod:`.redaction`), since messages end up in logs and in events sent to the gateway.
"""

from __future__ import annotations

import math
from typing import Any

from .redaction import redact_channel_url, scrub


class TrickleError(Exception):
    """Base class of every error raised by trickle-live."""


class ChannelNotFound(TrickleError):
    """The channel does not exist (HTTP 404): it was never created or has been deleted."""

    def __init__(self, url: str) -> None:
        super().__init__(f"trickle channel not found: {redact_channel_url(url)}")
        self.url = url


class ChannelClosed(TrickleError):
    """The channel was closed by its owner (``Lp-Trickle-Closed``, or a publisher released on delete)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"trickle channel closed: {redact_channel_url(url)}")
        self.url = url


class ProtocolError(TrickleError):
    """The server answered with a status the protocol does not allow at this point."""

    def __init__(self, url: str, status: int, body: str = "") -> None:
        detail = f": {scrub(body.strip()[:200], url)}" if body.strip() else ""
        shown = redact_channel_url(url)
        super().__init__(f"trickle request {shown} failed with HTTP {status}{detail}")
        self.url = url
        self.status = status
        self.body = body


class RedirectRefused(ProtocolError):
    """The server answered a trickle request with a redirect (3xx): never followed, since a channel
    URL is a capability and the redirect could point anywhere."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(url, status, "redirect not followed (trickle requests never follow one)")


class TrickleTimeout(TrickleError):
    """A wait bounded by a timeout ran out."""

    def __init__(self, url: str, what: str, seconds: float) -> None:
        shown = redact_channel_url(url)
        super().__init__(f"timed out after {seconds:g}s waiting for {what} on {shown}")
        self.url = url
        self.what = what
        self.seconds = seconds


class MediaError(TrickleError):
    """Media could not be decoded or encoded."""


class ValidationError(TrickleError):
    """A value from outside (request body, parameter update, setting) is not acceptable."""

    def __init__(self, field: str, expected: str, received: Any) -> None:
        shown = repr(received)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{field}: expected {expected}, received {shown}")
        self.field = field
        self.expected = expected
        self.received = received

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "expected": self.expected,
            "received": _jsonable(self.received),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # "nan", "inf": JSON has no such number (an orchestrator rejects it)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value][:20]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in list(value.items())[:20]}
    return repr(value)[:120]
