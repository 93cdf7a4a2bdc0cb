"""Decoded audio frames (AAC, Opus, any rate) → Opus packets at 48 kHz stereo, re-timed.

Re-timing rule: the output is a gapless 48 kHz sample clock. It starts at the first input frame's
pts (never below the encoder's priming delay, so no packet gets a negative timestamp, which would
make the muxer shift every stream), then advances by the samples written. Input jitter is
ignored; a jump of more than 100 ms from the expected input position re-anchors the clock at the
new pts (never backwards: the output stays monotonic) with a fresh resampler.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import av

from .timing import CLOCK_HZ

log = logging.getLogger(__name__)

RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
OPUS_PRIMING = 312  # libopus pre-skip at 48 kHz
RESYNC_SAMPLES = RATE // 10
TB_48K = Fraction(1, RATE)


def add_opus_stream(
    container: av.container.OutputContainer, bitrate: int = 96_000
) -> av.AudioStream:
    """Add the Opus stream to an output container (before its header is written)."""
    stream = container.add_stream("libopus", rate=RATE, layout="stereo")
    stream.codec_context.format = "flt"
    stream.codec_context.bit_rate = bitrate
    stream.codec_context.time_base = TB_48K
    return stream


class OpusEncoder:
    def __init__(self, stream: av.AudioStream) -> None:
        self._ctx = stream.codec_context
        self._resampler: av.AudioResampler | None = None
        self._next_out: int | None = None  # pts of the next output sample, 48 kHz
        self._expected_in: int | None = None  # where the next input frame should start, 48 kHz

    def encode(self, frame: av.AudioFrame, pts_90k: int) -> list[av.Packet]:
        start = pts_90k * RATE // CLOCK_HZ
        if self._expected_in is None or abs(start - self._expected_in) > RESYNC_SAMPLES:
            self._anchor(start)
        self._expected_in = start + frame.samples * RATE // max(1, frame.sample_rate)
        assert self._resampler is not None
        frame.pts = None
        return self._encode_all(self._resampler.resample(frame))

    def _anchor(self, start: int) -> None:
        if self._expected_in is not None:
            log.info("audio: timestamp jump, re-anchoring at %d", start)
        floor = OPUS_PRIMING if self._next_out is None else self._next_out
        self._next_out = max(start, floor)
        self._resampler = av.AudioResampler(
            format="flt", layout="stereo", rate=RATE, frame_size=FRAME_SAMPLES
        )

    def _encode_all(self, frames: list[av.AudioFrame]) -> list[av.Packet]:
        packets: list[av.Packet] = []
        for out in frames:
            assert self._next_out is not None
            out.pts = self._next_out
            out.time_base = TB_48K
            self._next_out += out.samples
            packets += self._ctx.encode(out)
        return packets

    def flush(self) -> list[av.Packet]:
        packets: list[av.Packet] = []
        if self._resampler is not None:
            packets += self._encode_all(self._resampler.resample(None))
        if self._next_out is not None:
            packets += self._ctx.encode(None)
        return packets
