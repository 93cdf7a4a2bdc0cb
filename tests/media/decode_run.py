"""What a :class:`StreamDecoder` gave for fed bytes, for the decoder tests (shared by
``test_media_decoder.py`` and ``test_media_segment_muxers.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from trickle_live.trickle.media.decoder import StreamDecoder
from trickle_live.trickle.media.frames import AudioFrame, VideoFrame
from trickle_live.trickle.media.stats import DecoderStats
from trickle_live.trickle.media.testclip import chunks, pattern_frame, read_frame_number


@dataclass
class Run:
    video: list[VideoFrame] = field(default_factory=list)
    audio: list[AudioFrame] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stats: DecoderStats = field(default_factory=DecoderStats)

    @property
    def numbers(self) -> list[int]:
        return [read_frame_number(f.image) for f in self.video]

    @property
    def pts(self) -> list[int]:
        return [f.pts for f in self.video]

    def worst_picture(self) -> float:
        return max(picture_error(f) for f in self.video)


def picture_error(frame: VideoFrame) -> float:
    """Mean absolute difference from the picture the frame's barcode names."""
    expected = pattern_frame(read_frame_number(frame.image), frame.width, frame.height)
    return float(np.abs(frame.image.astype(np.int16) - expected).mean())


def decode_segments(
    segments: list[bytes],
    *,
    boundaries: bool = True,
    chunk: int = 700,
    audio: bool = True,
    **kw: object,
) -> Run:
    """Feed each segment in ``chunk``-byte pieces (``end_segment`` after each where
    ``boundaries``), then end; ``kw`` goes to the decoder."""
    run = Run()
    decoder = StreamDecoder(
        run.video.append,
        run.audio.append if audio else None,
        on_error=run.errors.append,
        **kw,  # type: ignore[arg-type]
    )
    decoder.start()
    for segment in segments:
        for piece in chunks(segment, chunk):
            decoder.feed(piece)
        if boundaries:
            decoder.end_segment()
    decoder.end()
    assert decoder.wait(20), "decode thread did not finish"
    run.stats = decoder.stats
    return run
