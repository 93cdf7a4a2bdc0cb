"""A video frame as a JPEG (for previews), encoded with PyAV's MJPEG encoder (no PIL)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from ..errors import MediaError
from .scaler import Scaler


def encode_jpeg(image: np.ndarray, quality: int = 5) -> bytes:
    """``image``: uint8 RGB ``(H, W, 3)``. ``quality``: JPEG q-scale, 2 (best) .. 31 (smallest)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise MediaError(
            f"encode_jpeg: expected uint8 (H, W, 3), received {image.dtype} {image.shape}"
        )
    height, width = int(image.shape[0]), int(image.shape[1])
    if width % 2 or height % 2:
        image = image[: height - height % 2, : width - width % 2]
        height, width = int(image.shape[0]), int(image.shape[1])
    if width < 2 or height < 2:
        raise MediaError(f"encode_jpeg: image too small: {width}x{height}")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuvj420p"
    codec.thread_count = 1  # one small picture: a pool of threads per preview costs more
    codec.time_base = Fraction(1, 25)
    q = str(min(31, max(2, quality)))
    codec.options = {"qmin": q, "qmax": q}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    packets = [*codec.encode(Scaler().reformat(frame, format="yuvj420p")), *codec.encode(None)]
    return b"".join(bytes(p) for p in packets)
