"""A moving test pattern, so a graph with ``TrickleInput`` can be tried from the editor."""

from __future__ import annotations

import numpy as np

_BARS = np.array(
    [
        [235, 235, 235],
        [235, 235, 16],
        [16, 235, 235],
        [16, 235, 16],
        [235, 16, 235],
        [235, 16, 16],
        [16, 16, 235],
        [16, 16, 16],
    ],
    dtype=np.uint8,
)


def test_pattern(width: int, height: int, index: int) -> np.ndarray:
    """Colour bars with a bright square that moves with ``index``: ``uint8 (H, W, 3)``."""
    width = max(8, int(width))
    height = max(8, int(height))
    columns = (np.arange(width) * len(_BARS)) // width
    image = np.ascontiguousarray(np.broadcast_to(_BARS[columns], (height, width, 3)))
    side = max(4, min(width, height) // 8)
    x = (index * 7) % max(1, width - side)
    y = (index * 3) % max(1, height - side)
    image[y : y + side, x : x + side] = 255
    return image
