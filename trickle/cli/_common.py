"""Helpers shared by the protocol command-line tools."""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit


def channel_url(text: str) -> str:
    """argparse type: an http(s) channel URL (exit 2 with a message otherwise)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") == "":
        raise argparse.ArgumentTypeError(
            f"expected a channel URL like http://127.0.0.1:3389/mychannel, got {text!r}"
        )
    return text.rstrip("/")


def start_seq(text: str) -> int:
    """argparse type: -1 (next), -2 (current) or a segment number."""
    try:
        value = int(text)
    except ValueError:
        value = -3
    if value < -2:
        raise argparse.ArgumentTypeError(f"expected -1, -2 or a segment number >= 0, got {text!r}")
    return value


def fail(message: str, code: int = 1) -> int:
    sys.stderr.write(f"error: {message}\n")
    return code
