"""RGB numpy frames → video packets (``codecs.VIDEO``: libx264, low latency), re-created when the
size changes.

Settings (docs/media.md; what ai-runner's encoder uses): the codec's ``encoder_options`` (for
libx264 ``tune=zerolatency``: no lookahead, no frame delay; no B-frames; ``forced-idr=1``; no
scene-cut keyframes and ``keyint=infinite``), ``yuv420p``. The only keyframes are the ones
forced here every ``segment_seconds`` of pts (and the first frame of a new encoder), so segments
are regular. SPS/PPS repeat before each IDR (no global header), so each segment decodes alone.
Time base 1/90000; packet pts = frame pts.

A frame of another size closes the encoder (flushing it) and opens a new one; the muxer stream
stays, since MPEG-TS carries H.264 parameters in-band. Odd sizes lose their last row/column
(4:2:0 needs even sizes). One shared RGB→YUV converter is reused (a converter per frame costs
about 3 ms at 512×512; the shared one about 0.7 ms).
"""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np
from av.video.frame import PictureType

from ..errors import MediaError
from .codecs import ENCODER_THREADS, VIDEO, encoder_threads
from .scaler import SCALER_THREADS, Scaler
from .timing import CLOCK_HZ, TB_90K

log = logging.getLogger(__name__)


def check_image(image: np.ndarray) -> None:
    """Raise MediaError unless ``image`` is uint8 RGB (H, W, 3) with H, W >= 2."""
    shape = getattr(image, "shape", None)
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
        or image.shape[0] < 2
        or image.shape[1] < 2
    ):
        dtype = getattr(image, "dtype", type(image).__name__)
        raise MediaError(f"frame image: expected uint8 (H>=2, W>=2, 3), received {dtype} {shape}")


class VideoEncoder:
    def __init__(
        self,
        *,
        segment_seconds: float = 1.0,
        fps_hint: float = 30.0,
        preset: str = "superfast",
        threads: int | None = ENCODER_THREADS,
        scaler_threads: int = SCALER_THREADS,
        crf: int = 23,
    ) -> None:
        self._segment_ticks = round(segment_seconds * CLOCK_HZ)
        self._fps = Fraction(fps_hint).limit_denominator(1001)
        self._preset = preset
        self._threads = threads
        self._crf = crf
        self._ctx: av.VideoCodecContext | None = None
        self._to_yuv = Scaler(scaler_threads)
        self._next_key: int | None = None
        self.width = 0
        self.height = 0
        self.reinits = 0
        self.keyframes = 0

    def encode(self, image: np.ndarray, pts: int) -> list[av.Packet]:
        """Encode one RGB frame at ``pts`` (90 kHz); returns the packets ready now."""
        check_image(image)
        height, width = image.shape[0] & ~1, image.shape[1] & ~1
        if (height, width) != image.shape[:2]:
            image = image[:height, :width]
        packets: list[av.Packet] = []
        if self._ctx is None or (width, height) != (self.width, self.height):
            packets += self._reopen(width, height)
        assert self._ctx is not None
        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame = self._to_yuv.reformat(rgb, format="yuv420p")
        frame.pts = pts
        frame.time_base = TB_90K
        if self._next_key is None or pts >= self._next_key:
            frame.pict_type = PictureType.I
            self._next_key = pts + self._segment_ticks
            self.keyframes += 1
        packets += self._ctx.encode(frame)
        return packets

    def flush(self) -> list[av.Packet]:
        """Drain the encoder (end of stream or before a size change)."""
        if self._ctx is None:
            return []
        packets = list(self._ctx.encode(None))
        self._ctx = None
        return packets

    def _reopen(self, width: int, height: int) -> list[av.Packet]:
        packets = self.flush()
        if self.width:
            self.reinits += 1
            log.info("video encoder: %dx%d -> %dx%d", self.width, self.height, width, height)
        self._ctx = self._open(width, height)
        self.width, self.height = width, height
        self._next_key = None
        return packets

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        ctx = av.CodecContext.create(VIDEO.encoder, "w")
        assert isinstance(ctx, av.VideoCodecContext)
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = TB_90K
        ctx.framerate = self._fps
        threads = self._threads
        ctx.thread_count = encoder_threads(width, height) if threads is None else threads
        ctx.options = VIDEO.encoder_options(self._preset, self._crf)
        ctx.open()
        return ctx
