"""decode → encode → decode: frame count, pts and pictures survive; audio survives as Opus."""

from __future__ import annotations

import numpy as np
import pytest
from trickle_live.trickle.media.decoder import StreamDecoder
from trickle_live.trickle.media.encoder import StreamEncoder
from trickle_live.trickle.media.testclip import (
    DecodedClip,
    SegmentCollector,
    chunks,
    make_test_clip,
    pattern_frame,
)


def transcode(
    clip: bytes, audio: bool, chunk: int = 1316
) -> tuple[SegmentCollector, StreamEncoder]:
    sink = SegmentCollector()
    encoder = StreamEncoder(sink, audio=audio, queue_size=1000, threads=1)
    decoder = StreamDecoder(encoder.put_video, encoder.put_audio if audio else None)
    encoder.start()
    decoder.start()
    for piece in chunks(clip, chunk):
        decoder.feed(piece)
    decoder.end()
    assert decoder.wait(20)
    encoder.close(timeout=20)
    assert decoder.stats.errors == 0 and encoder.stats.errors == 0
    return sink, encoder


@pytest.mark.parametrize("audio", [None, "aac", "opus"])
def test_round_trip_keeps_frames_pts_and_pictures(audio: str | None) -> None:
    clip = make_test_clip(3.0, 64, 64, 30.0, audio=audio or False)
    source = DecodedClip(clip)
    sink, encoder = transcode(clip, audio=audio is not None)
    result = DecodedClip(sink.data())
    assert len(result.video) == len(source.video) == 90
    assert result.pts == source.pts
    assert result.numbers() == list(range(90))
    for i, image in enumerate(result.images()):
        error = np.abs(image.astype(np.int16) - pattern_frame(i, 64, 64)).mean()
        assert error < 10, f"frame {i}: mean error {error:.1f}"
    assert len(sink.segments) == 3
    for segment in sink.segments:
        assert DecodedClip(bytes(segment)).video[0].key_frame
    if audio:
        assert result.codecs == ["h264", "opus"]
        assert abs(result.audio_samples - source.audio_samples) <= 2 * 1024
    else:
        assert result.codecs == ["h264"]


def test_round_trip_of_our_own_output_with_a_size_change() -> None:
    first, _ = transcode(make_test_clip(1.0, 64, 64, 30.0), audio=False)
    later = make_test_clip(1.0, 96, 48, 30.0, start_pts=180_000, first_index=30)
    second, encoder = transcode(first.data() + later, audio=False)
    result = DecodedClip(second.data())
    sizes = [(f.width, f.height) for f in result.video]
    assert sizes[0] == (64, 64) and sizes[-1] == (96, 48)
    assert encoder.stats.reinits == 1
    assert result.numbers()[-30:] == list(range(30, 60))
