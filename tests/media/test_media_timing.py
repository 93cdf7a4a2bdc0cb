"""Time-base helpers and elementary-stream helpers (pure functions)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from trickle_live.trickle.media.bitstream import h264_is_keyframe, split_opus_ts
from trickle_live.trickle.media.timing import FpsLimiter, MonotonicPts, is_discontinuity, to_90k


def test_to_90k_rescales_and_passes_90k_through() -> None:
    assert to_90k(12345, Fraction(1, 90_000)) == 12345
    assert to_90k(48_000, Fraction(1, 48_000)) == 90_000
    assert to_90k(1, Fraction(1, 1000)) == 90


def test_discontinuity_rule() -> None:
    assert not is_discontinuity(None, 5)
    assert not is_discontinuity(3000, 6000)
    assert is_discontinuity(6000, 6000)
    assert is_discontinuity(6000, 3000)
    assert is_discontinuity(0, 180_001)


def test_fps_limiter_even_and_resets_on_jumps() -> None:
    limiter = FpsLimiter(10)
    kept = [i for i in range(30) if limiter.admit(i * 3000)]
    assert kept == list(range(0, 30, 3))
    assert limiter.admit(0)  # a backwards jump re-anchors the grid
    slow = FpsLimiter(60)
    assert all(slow.admit(i * 3000) for i in range(30))  # a slower source keeps every frame
    with pytest.raises(ValueError):
        FpsLimiter(0)


def test_monotonic_pts_offsets_only_after_a_backwards_jump() -> None:
    mono = MonotonicPts(step=3000)
    assert [mono(p) for p in (100, 3100, 6100)] == [100, 3100, 6100]
    assert mono(0) == 9100 and mono(3000) == 12100
    assert mono.adjustments == 1


def test_h264_keyframe_detection() -> None:
    aud, sps, idr, non_idr = (
        b"\x00\x00\x00\x01\x09\xf0",
        b"\x00\x00\x01\x67\x42",
        b"\x00\x00\x01\x65\x88",
        b"\x00\x00\x01\x41\x9a",
    )
    assert h264_is_keyframe(aud + sps + idr)
    assert not h264_is_keyframe(aud + non_idr)
    assert not h264_is_keyframe(b"")


def test_opus_ts_framing() -> None:
    def framed(payload: bytes, flags: int = 0, trims: bytes = b"") -> bytes:
        size = len(payload)
        return (
            bytes([0x7F, 0xE0 | flags])
            + b"\xff" * (size // 255)
            + bytes([size % 255])
            + trims
            + payload
        )

    a, b = b"x" * 10, b"y" * 300
    assert split_opus_ts(framed(a) + framed(b, 0x10, b"\x00\x10")) == [a, b]
    with pytest.raises(ValueError):
        split_opus_ts(b"\x00\x01garbage")
    with pytest.raises(ValueError):
        split_opus_ts(framed(b)[:-5])
