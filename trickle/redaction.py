"""Redacted forms of trickle channel URLs and names, for logs, error messages and task names.

A channel URL is a capability: whoever knows it may read or write the channel, and go-livepeer
derives channel names from secrets (the live runner's o2r channel name embeds the heartbeat
secret). So logs and ``str(exc)`` show only where a URL points and a short prefix of the channel
name — ``https://host:port/…/abcd…/12`` — while exceptions keep the full URL in ``.url`` for code.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SHOWN_CHARS = 4
ELLIPSIS = "…"
_SEQ = re.compile(r"-?\d+|next")
# Where the caller does not say whether a URL ends in a segment number, a numeric last part is
# taken as one only up to this many characters (a million segments: 11 days of 1 s segments);
# a longer one is a channel name made of digits (a random hex name is all digits 2 % of the
# time) and must not be shown whole.
SEQ_CHARS = 6


def short_name(name: str | None) -> str:
    """The first characters of a channel name and an ellipsis (``abcd…``); never the whole name."""
    if not name:
        return ""
    return name[:SHOWN_CHARS] + ELLIPSIS


def redact_channel_url(url: str | None, *, has_seq: bool | None = None) -> str:
    """``scheme://host:port/…/<4 chars of the channel>…/<seq>``; no path, query or user info.

    ``has_seq``: whether the last path part is a segment number (None: a number is taken as one).
    """
    if not url:
        return ""
    parts = urlsplit(url)
    parts_path = [p for p in parts.path.split("/") if p and p != ELLIPSIS]
    seq = ""
    if has_seq is None:
        has_seq = len(parts_path) >= 2 and _looks_like_seq(parts_path[-1])
    if has_seq and parts_path:
        seq = "/" + parts_path.pop()
    channel = f"/{ELLIPSIS}/{short_name(parts_path[-1])}{seq}" if parts_path else f"/{ELLIPSIS}"
    if parts.scheme and parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return f"{parts.scheme}://{netloc}{channel}"
    return channel.lstrip("/")


def _looks_like_seq(part: str) -> bool:
    return len(part) <= SEQ_CHARS and bool(_SEQ.fullmatch(part))


def channel_name(url: str, *, has_seq: bool | None = None) -> str:
    """The channel name in a channel (or segment) URL: its last path part before the seq."""
    path = [p for p in urlsplit(url).path.split("/") if p]
    if has_seq is None:
        has_seq = len(path) >= 2 and _looks_like_seq(path[-1])
    if has_seq and path:
        path.pop()
    return path[-1] if path else ""


def scrub(text: str, url: str) -> str:
    """``text`` (an error detail, a server's answer) without the channel name of ``url`` and
    without its userinfo (``user:password@``)."""
    try:
        parts = urlsplit(url)
        name = channel_name(url)
    except ValueError:
        return text
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and userinfo:
        text = text.replace(userinfo + "@", "").replace(userinfo, ELLIPSIS)
        for secret in (parts.password, parts.username):
            if secret:
                text = text.replace(secret, ELLIPSIS)
    if len(name) <= SHOWN_CHARS or name not in text:
        return text
    return text.replace(name, short_name(name))
