"""Typed values from environment variables, shared by every configuration object.

A value is converted to the type of the field's default; a bad one raises ``ValidationError`` naming
the variable, what was expected and what was received.
"""

from __future__ import annotations

from typing import Any

from .errors import ValidationError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def convert_env(variable: str, raw: str, default: Any) -> Any:
    """``raw`` (the variable's text) as the type of ``default``: bool, int, float, tuple or str."""
    if isinstance(default, bool):
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValidationError(variable, "true|false", raw)
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValidationError(variable, "an integer", raw) from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ValidationError(variable, "a number", raw) from None
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw
