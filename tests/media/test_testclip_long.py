"""Generated clips longer than 9 minutes at 30 fps (frame index ≥ 16384) — the 10-minute
benchmark run needs them; the picture's colour terms used to overflow uint16 there."""

from __future__ import annotations

import pytest
from trickle_live.trickle.media.testclip import pattern_frame, read_frame_number


@pytest.mark.parametrize("index", [0, 16383, 16384, 18089, 65535])
def test_pattern_frame_for_any_16_bit_index(index: int) -> None:
    image = pattern_frame(index, 128, 64)
    assert read_frame_number(image) == index
    assert int(image[-1, 0, 2]) == (index * 8) % 256
