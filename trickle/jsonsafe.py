"""The one JSON serialiser and the one strict parser of trickle-live.

An orchestrator decodes our answers and events with Go's ``encoding/json``, which refuses
``NaN``/``Infinity`` (Python's ``json`` writes them by default) and numbers out of float64 range.
So :func:`dumps` never writes a non-finite number: :func:`finite` turns each into ``null`` first,
and ``allow_nan=False`` makes a slip an error here rather than at the orchestrator. Every HTTP
answer (:func:`json_response`) and every event goes through it.

:func:`loads` is the parser for what callers send: it refuses what is not JSON (``NaN``,
``Infinity``, ``1e999``), nesting deeper than :data:`MAX_DEPTH` and integers longer than
:data:`MAX_INT_DIGITS` with a :class:`JsonInputError` (a ``ValueError`` naming what was wrong)
instead of a ``RecursionError`` or an interpreter limit.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from aiohttp import web

MAX_DEPTH = 64  # arrays/objects inside each other; a real request nests a workflow about 6 deep
MAX_INT_DIGITS = 1000  # Python refuses 4300+ digits with a bare ValueError; Go int64 has 19


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')  # a JSON string, escapes included
_BRACKET = re.compile(r"[\[\]{}]")


class JsonInputError(ValueError):
    """The text is not JSON this project accepts; the message says why (no input echoed)."""


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth) replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(
    value: Any, *, compact: bool = True, indent: int | None = None, sort_keys: bool = False
) -> str:
    """JSON text for ``value``: non-finite numbers as ``null``, unknown objects as ``str()``;
    ``compact=False``: ``json.dumps``'s own spacing (what ``web.json_response`` wrote)."""
    return json.dumps(
        finite(value),
        allow_nan=False,
        default=_default,
        separators=(",", ":") if compact and indent is None else None,
        indent=indent,
        sort_keys=sort_keys,
    )


def _default(value: Any) -> Any:
    return finite(list(value)) if isinstance(value, (set, frozenset)) else str(value)


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """``web.json_response`` through :func:`dumps`."""
    return web.Response(
        text=dumps(data, compact=False),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def _reject_constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not a JSON number")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonInputError(f"number {text[:20]}{'...' if len(text) > 20 else ''} is out of range")
    return value


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise JsonInputError(f"an integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _depth_ok(text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before parsing (brackets inside strings skipped)."""
    brackets = _BRACKET.findall(_STRING.sub("", text))
    depth = max(accumulate(1 if b in "[{" else -1 for b in brackets), default=0)
    if depth > MAX_DEPTH:
        raise JsonInputError(f"nested deeper than {MAX_DEPTH} levels")


def loads(data: bytes | str) -> Any:
    """Strict JSON: raises :class:`JsonInputError` for anything an orchestrator would not send."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonInputError(f"not UTF-8 (byte {exc.start})") from None
    else:
        text = data
    if "[" in text or "{" in text:
        _depth_ok(text)
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except JsonInputError:
        raise
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise JsonInputError(f"invalid JSON: {exc.msg} at {where}") from None
    except (ValueError, RecursionError) as exc:  # an interpreter limit: not the caller's text
        raise JsonInputError(f"invalid JSON: {type(exc).__name__}") from None
