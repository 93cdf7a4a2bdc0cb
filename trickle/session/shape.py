"""Start parameters that shape the input: ``width``, ``height``, ``max_framerate`` (alias ``fps``).

pytrickle's quickstart and ComfyStream's BYOC server tell users to send these in the start
request's ``params``; the go-livepeer live-runner app takes them at the top level of its body
(and folds them into ``params``). They are honoured for every contract:

- ``width`` / ``height``: even integers from 16 to 4096. Both: decoded frames are scaled to cover
  that size and centre-cropped to it; one: the other side follows the input's aspect ratio.
- ``max_framerate`` (or ``fps``; ``max_framerate`` wins when both are given): a number above 0 and
  at most 240. Input frames above that rate are dropped before the workflow sees them, spread
  evenly (30 → 24 keeps 4 of 5).

Numbers may arrive as JSON numbers or as numeric strings (query-string params); anything else is a
:class:`ValidationError` naming ``params.<name>``, what was expected and what came.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..media.resize import MAX_SIDE, MIN_SIDE
from ..validation import number, require

MAX_FPS = 240.0
SHAPE_KEYS = ("width", "height", "max_framerate", "fps")


@dataclass(frozen=True)
class StreamShape:
    width: int | None = None
    height: int | None = None
    max_fps: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "max_framerate": self.max_fps}


def _side(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    expected = f"an even integer from {MIN_SIDE} to {MAX_SIDE}"
    side = number(f"params.{name}", value, expected, text=True)
    ok = side.is_integer() and MIN_SIDE <= side <= MAX_SIDE and int(side) % 2 == 0
    require(ok, f"params.{name}", expected, value)
    return int(side)


def _fps(params: dict[str, Any]) -> float | None:
    for name in ("max_framerate", "fps"):
        value = params.get(name)
        if value is None or value == "":
            continue
        expected = f"a frame rate above 0 and at most {MAX_FPS:g}"
        rate = number(f"params.{name}", value, expected, text=True)
        require(0 < rate <= MAX_FPS, f"params.{name}", expected, value)
        return rate
    return None


def parse_shape(params: dict[str, Any] | None) -> StreamShape:
    """The shape a stream's start params ask for; raises ValidationError for a bad value."""
    params = params or {}
    return StreamShape(_side(params, "width"), _side(params, "height"), _fps(params))
