"""Caller-supplied text made safe for a log line: ``printable(value)``.

A stream id, a model id or a stop reason comes from the caller. Logged raw, a newline forges a
second log line and ANSI escapes rewrite the operator's terminal. ``printable`` escapes every
character Python does not call printable (control characters, line and paragraph separators,
format characters) as ``\\n``, ``\\r``, ``\\t``, ``\\xNN``, ``\\uNNNN``; everything else, accented
letters and symbols included, is kept as it is.
"""

from __future__ import annotations

__all__ = ["printable"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char.isprintable():
        return char
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(value: object) -> str:
    """``str(value)`` with every non-printable character escaped (see the module docstring)."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(_escape(char) for char in text)
