"""Redaction for logs and status pages: session tokens, secrets and channel URLs are bearer secrets.

A trickle channel URL (and the o2r channel name) grants access by possession, and a session-control
URL carries the session id; logs and the editor may show where a URL points, never the URL itself.
"""

from __future__ import annotations

from urllib.parse import urlsplit

REDACTED = "(redacted)"


def redact_url(url: str | None) -> str:
    """``https://host:port/…`` — scheme and authority only; the path and query are dropped."""
    if not url:
        return ""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return REDACTED
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never show userinfo
    return f"{parts.scheme}://{netloc}/…"
