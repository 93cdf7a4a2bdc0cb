"""The value checks of the pack: every value that comes from outside is checked here.

One home for the checks that a start request, a parameter update, a panel setting and an
environment variable share: booleans, integers, numbers (as JSON or as text), ranges, choices,
strings and comma lists. Each returns the accepted value, converted, or raises
:class:`~.errors.ValidationError` with the field, what was expected and what was received. The
callers keep only what is theirs: which fields exist, their bounds and their wording —
``session/shape.py`` (start sizes and frame rate), ``session/processors.py`` (the plain-Python
processors' parameters), ``config.py`` and ``liverunner/config.py`` (``TRICKLE_*`` variables),
``nodes/params.py`` (updates checked against ComfyUI node schemas) and
``routes/runner_settings.py`` (the panel's settings).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

from .errors import ValidationError

T = TypeVar("T")

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def require(ok: bool, field: str, expected: str, received: Any) -> None:
    """Raise ``ValidationError(field, expected, received)`` unless ``ok``."""
    if not ok:
        raise ValidationError(field, expected, received)


def boolean(field: str, value: Any, expected: str = "true or false") -> bool:
    """A JSON ``true``/``false`` (no 0/1, no text)."""
    require(isinstance(value, bool), field, expected, value)
    return bool(value)


def number(field: str, value: Any, expected: str = "a number", *, text: bool = False) -> float:
    """A JSON number (never a boolean); with ``text``, numeric text too (``"2.5"``)."""
    if isinstance(value, str) and text:
        try:
            return float(value.strip())
        except ValueError:
            raise ValidationError(field, expected, value) from None
    require(isinstance(value, (int, float)) and not isinstance(value, bool), field, expected, value)
    return float(value)


def integer(
    field: str,
    value: Any,
    expected: str = "an integer",
    *,
    text: bool = False,
    whole_floats: bool = False,
) -> int:
    """An integer (never a boolean); ``whole_floats``: ``3.0`` counts as 3; ``text``: ``"3"``."""
    if isinstance(value, str) and text:
        try:
            return int(value.strip())
        except ValueError:
            raise ValidationError(field, expected, value) from None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if whole_floats and isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValidationError(field, expected, value)


def finite(field: str, value: float, expected: str = "a finite number") -> float:
    require(math.isfinite(value), field, expected, value)
    return value


def in_range(
    field: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    expected: str | None = None,
    *,
    received: Any = None,
) -> Any:
    """``value`` when ``low <= value <= high`` (a bound of None is open; NaN is never in a
    range); ``received`` is what the error shows (default: ``value``)."""
    if (low is not None and not value >= low) or (high is not None and not value <= high):
        shown = value if received is None else received
        raise ValidationError(field, expected or f"a value in [{low}, {high}]", shown)
    return value


def choice(field: str, value: T, choices: Sequence[Any], expected: str | None = None) -> T:
    """One of ``choices``; the error lists the first ten unless ``expected`` says otherwise."""
    if value not in choices:
        shown = ", ".join(map(str, choices[:10])) + (" ..." if len(choices) > 10 else "")
        raise ValidationError(field, expected or f"one of [{shown}]", value)
    return value


def string(field: str, value: Any, expected: str = "a string", *, max_len: int = 0) -> str:
    """A string (of at most ``max_len`` characters when given)."""
    ok = isinstance(value, str) and (not max_len or len(value) <= max_len)
    require(ok, field, expected, value)
    return str(value)


def comma_list(text: str) -> tuple[str, ...]:
    """``"a, b,,c"`` → ``("a", "b", "c")``."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def string_list(field: str, value: Any, expected: str) -> tuple[str, ...]:
    """A list of strings, or one comma-separated string; blanks dropped, each stripped."""
    if isinstance(value, str):
        return comma_list(value)
    require(
        isinstance(value, list) and all(isinstance(v, str) for v in value), field, expected, value
    )
    return tuple(v.strip() for v in value if v.strip())


def from_text(field: str, raw: str, like: Any) -> Any:
    """``raw`` (an environment variable's text) as the type of ``like``: bool (1/true/yes/on,
    0/false/no/off), int, float, tuple (comma list) or str (as is)."""
    if isinstance(like, bool):
        lowered = raw.strip().lower()
        if lowered in TRUE_WORDS:
            return True
        require(lowered in FALSE_WORDS, field, "true|false (or 1|0, yes|no, on|off)", raw)
        return False
    if isinstance(like, int):
        return integer(field, raw, text=True)
    if isinstance(like, float):
        return number(field, raw, text=True)
    if isinstance(like, tuple):
        return comma_list(raw)
    return raw
