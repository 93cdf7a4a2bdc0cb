"""Time-base rules, written down once (docs/media.md).

- Every ``pts`` in trickle-live is on the 90 kHz MPEG-TS clock (time base 1/90000). MPEG-TS
  timestamps already are: the decoder passes them on unchanged (any other time base is rescaled
  with :func:`to_90k`), and the encoder writes them unchanged, so output pts = input pts.
- Timestamps continue across segments: one TS stream, never reset per segment.
- The output must be monotonic. When the input jumps backwards (a source restart, a splice), the
  encoder adds a constant offset from then on (:class:`MonotonicPts`) so the output continues one
  frame after the last written pts; forward jumps pass through unchanged (a gap is valid TS).
- Frames whose pts is missing get the previous pts plus one frame interval.
- A frame-rate cap drops frames evenly on the pts grid (:class:`FpsLimiter`), never by wall clock.
"""

from __future__ import annotations

from fractions import Fraction

TB_90K = Fraction(1, 90_000)
CLOCK_HZ = 90_000
# A gap larger than this between consecutive frames counts as a timestamp discontinuity.
DISCONTINUITY_TICKS = 2 * CLOCK_HZ


def to_90k(pts: int, time_base: Fraction | None) -> int:
    """``pts`` in ``time_base`` units → 90 kHz ticks (rounded)."""
    if time_base is None or time_base == TB_90K:
        return int(pts)
    num = pts * time_base.numerator * CLOCK_HZ
    return (num + time_base.denominator // 2) // time_base.denominator


def is_discontinuity(prev: int | None, pts: int) -> bool:
    """True when ``pts`` does not plausibly follow ``prev`` (backwards, repeated or a big jump)."""
    return prev is not None and (pts <= prev or pts - prev > DISCONTINUITY_TICKS)


class FpsLimiter:
    """Keeps at most ``max_fps`` frames per second of pts, spread evenly (30 → 24 keeps 4 of 5)."""

    def __init__(self, max_fps: float) -> None:
        if max_fps <= 0:
            raise ValueError(f"max_fps: expected > 0, received {max_fps}")
        self.interval = CLOCK_HZ / max_fps
        self._tolerance = self.interval * 0.1
        self._next: float | None = None
        self._last: int | None = None

    def reset(self) -> None:
        self._next = None
        self._last = None

    def admit(self, pts: int) -> bool:
        nxt = self._next
        if nxt is None or is_discontinuity(self._last, pts):
            self._next = pts + self.interval
        elif pts + self._tolerance < nxt:
            self._last = pts
            return False
        elif pts - nxt > self.interval:  # the source is slower than the cap: re-anchor the grid
            self._next = pts + self.interval
        else:
            self._next = nxt + self.interval
        self._last = pts
        return True


class MonotonicPts:
    """Output pts = input pts + offset, with the offset changed only when the input goes back."""

    def __init__(self, step: int = CLOCK_HZ // 30) -> None:
        self.step = max(1, step)
        self.offset = 0
        self.last: int | None = None
        self.adjustments = 0

    def __call__(self, pts: int) -> int:
        out = pts + self.offset
        if self.last is not None and out <= self.last:
            self.offset = self.last + self.step - pts
            out = pts + self.offset
            self.adjustments += 1
        self.last = out
        return out
