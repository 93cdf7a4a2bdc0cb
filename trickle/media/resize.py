"""Resize decoded pictures to the size a stream asked for (start params ``width``/``height``).

Both given: scale so the picture covers ``width × height`` and cut the overflow off evenly on both
sides (centre crop; no stretching, no black bars — pytrickle's rule). One given: the other follows
the input's aspect ratio (rounded to an even number, as H.264 4:2:0 needs). Scaling is one
swscale pass (``scaler.Scaler``, area filter); a picture already at the size is returned as is.
"""

from __future__ import annotations

import av
import numpy as np

from .scaler import SCALER_THREADS, Scaler

MIN_SIDE = 16
MAX_SIDE = 4096


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def target_size(
    src_width: int, src_height: int, width: int | None, height: int | None
) -> tuple[int, int]:
    """The output size for a ``src_width × src_height`` picture."""
    if width and height:
        return width, height
    if width:
        return width, _even(src_height * width / src_width)
    if height:
        return _even(src_width * height / src_height), height
    return src_width, src_height


def cover_size(src_width: int, src_height: int, width: int, height: int) -> tuple[int, int]:
    """The smallest size with the source's aspect ratio that covers ``width × height``."""
    scale = max(width / src_width, height / src_height)
    return max(width, round(src_width * scale)), max(height, round(src_height * scale))


class FrameShaper:
    """Scales and centre-crops RGB pictures (uint8 H×W×3) to a requested size; one per stream,
    used on one thread (it keeps its swscale context between frames)."""

    def __init__(
        self,
        width: int | None = None,
        height: int | None = None,
        scaler_threads: int = SCALER_THREADS,
    ) -> None:
        self.width = width
        self.height = height
        self._reformatter = Scaler(scaler_threads)

    @property
    def active(self) -> bool:
        return bool(self.width or self.height)

    def shape(self, image: np.ndarray) -> np.ndarray:
        src_h, src_w = int(image.shape[0]), int(image.shape[1])
        out_w, out_h = target_size(src_w, src_h, self.width, self.height)
        if (out_w, out_h) == (src_w, src_h):
            return image
        scaled_w, scaled_h = cover_size(src_w, src_h, out_w, out_h)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        scaled = self._reformatter.reformat(
            frame, width=scaled_w, height=scaled_h, format="rgb24", interpolation="AREA"
        ).to_ndarray()
        top, left = (scaled_h - out_h) // 2, (scaled_w - out_w) // 2
        if (scaled_w, scaled_h) == (out_w, out_h):
            return scaled
        return np.ascontiguousarray(scaled[top : top + out_h, left : left + out_w])
