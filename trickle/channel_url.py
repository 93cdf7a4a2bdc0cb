"""Which channel URLs a start request may give: trickle channels, and nothing else.

A start request names the URLs the runner will GET, POST and DELETE. Accepted blindly, that makes
the runner a request-forwarder to anything the machine can reach (an admin route on loopback, a
webhook on the local network). So every channel URL is checked when the stream starts:

- always (the URL must be usable): scheme ``http``/``https``; a well-formed host (a DNS name, an
  IPv4 address or a bracketed IPv6 address); a numeric port in 1..65535 when one is given; no
  whitespace, control characters or backslashes (``http://a\\@b/`` means different hosts to
  different parsers);
- by the policy (:class:`ChannelUrlPolicy`, from ``RunnerConfig``): no userinfo
  (``user:pass@``), no query string and no fragment unless allowed; the path is a trickle channel
  under one of the allowed prefixes (go-livepeer's ``/ai/trickle/<name>`` by default: one path
  segment after the prefix); the host is in ``allowed_hosts`` when that list is set.

A refused URL is a :class:`ValidationError` naming the field; its ``received`` value is the
redacted URL (:mod:`.redaction`), since the URL may carry a secret.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import ValidationError
from .redaction import redact_channel_url

ANY_PATH = "*"
DEFAULT_CHANNEL_PATHS = ("/ai/trickle/",)
MAX_URL_CHARS = 2048
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DNS_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_NAME = re.compile(r"^[^/?#\s\\]+$")


@dataclass(frozen=True)
class ChannelUrlPolicy:
    """What a channel URL may look like beyond being well-formed (see the module docstring)."""

    paths: tuple[str, ...] = DEFAULT_CHANNEL_PATHS  # channel prefixes; "*" = any path
    allowed_hosts: tuple[str, ...] = ()  # empty = any host
    allow_userinfo: bool = False
    allow_query: bool = False  # query strings and fragments

    def path_allowed(self, path: str) -> bool:
        if ANY_PATH in self.paths:
            return True
        for prefix in self.paths:
            base = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
            if path.startswith(base):
                name = path[len(base) :].removesuffix("/")
                if name not in ("", ".", "..") and _NAME.match(name):
                    return True
        return False

    def host_allowed(self, host: str | None) -> bool:
        if not self.allowed_hosts:
            return True
        return (host or "").lower() in {h.lower() for h in self.allowed_hosts}

    def describe_paths(self) -> str:
        if ANY_PATH in self.paths:
            return "any path"
        return " or ".join(f"{p.rstrip('/')}/<channel>" for p in self.paths)


def shown_url(value: str) -> str:
    """A channel URL (never a segment's) as errors and logs may show it: redacted, or a
    placeholder when it cannot be parsed."""
    try:
        return redact_channel_url(value, has_seq=False)
    except ValueError:
        return "(an unparseable URL)"


def check_channel_url(field: str, value: Any, policy: ChannelUrlPolicy | None = None) -> str:
    """``value`` if it is a usable (and, with ``policy``, allowed) channel URL; else
    :class:`ValidationError` naming ``field``."""
    if not isinstance(value, str):
        raise ValidationError(field, "an http(s) URL string", value)
    shown = shown_url(value)

    def refuse(expected: str) -> ValidationError:
        return ValidationError(field, expected, shown)

    if len(value) > MAX_URL_CHARS:
        raise refuse(f"a URL of at most {MAX_URL_CHARS} characters")
    if _BAD_CHARS.search(value):
        raise refuse("a URL without spaces, control characters or backslashes")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise refuse("an http(s) URL with a valid host and a port in 1..65535") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise refuse("an http(s) URL")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not _host_ok(parts.hostname, hostport):
        raise refuse("an http(s) URL with a well-formed host")
    if hostport.endswith(":") or (port is not None and not 1 <= port <= 65535):
        raise refuse("an http(s) URL with a port in 1..65535")
    if policy is None:
        return value
    if at and not policy.allow_userinfo:
        raise refuse("a URL without user:password@ (TRICKLE_ALLOW_URL_USERINFO allows it)")
    if (parts.query or parts.fragment or "?" in value or "#" in value) and not policy.allow_query:
        raise refuse("a URL without query string or fragment (TRICKLE_ALLOW_URL_QUERY allows it)")
    if not policy.path_allowed(parts.path):
        raise refuse(f"a trickle channel URL: {policy.describe_paths()} (TRICKLE_CHANNEL_PATHS)")
    if not policy.host_allowed(parts.hostname):
        raise ValidationError(field, "a URL on an allowed trickle host", parts.hostname)
    return value


def _host_ok(hostname: str | None, hostport: str) -> bool:
    if not hostname:
        return False
    if hostport.startswith("["):
        try:
            ipaddress.IPv6Address(hostname.split("%", 1)[0])
        except ValueError:
            return False
        return True
    return bool(_DNS_NAME.match(hostname)) and len(hostname) <= 253
