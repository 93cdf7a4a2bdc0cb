"""Frame types exchanged between decode, processing and encode.

Time base rule (written down once): every ``pts`` in trickle-live is on the 90 kHz MPEG-TS clock
(time base 1/90000). Decoders convert to it, encoders write it unchanged, so output pts = input pts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

TIME_BASE_HZ = 90_000


@dataclass(slots=True)
class VideoFrame:
    """One decoded (or processed) picture.

    ``image`` is ``uint8`` RGB, shape ``(H, W, 3)``, C-contiguous. ``pts`` is on the 90 kHz clock.
    ``index`` counts decoded frames of the stream from 0. ``received_at`` is ``time.monotonic()``
    when the bytes that completed this frame were handed to the decoder (latency accounting).
    """

    image: np.ndarray
    pts: int
    index: int = 0
    received_at: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    def with_image(self, image: np.ndarray) -> VideoFrame:
        """A processed frame: same timing, new picture."""
        return VideoFrame(image, self.pts, self.index, self.received_at, self.meta)


@dataclass(slots=True)
class AudioFrame:
    """One decoded audio frame; ``frame`` is the ``av.AudioFrame``, ``pts`` on the 90 kHz clock."""

    frame: Any
    pts: int
