"""TsSegmenter: segments start with the tables before a keyframe and decode alone."""

from __future__ import annotations

import random

import pytest
from trickle_live.trickle.media.segmenter import (
    PAT_PID,
    SDT_PID,
    TS_PACKET_SIZE,
    TsSegmenter,
    is_random_access_start,
)
from trickle_live.trickle.media.testclip import (
    DecodedClip,
    SegmentCollector,
    make_test_clip,
    split_segments,
)


def _pids(data: bytes) -> list[int]:
    return [((data[i + 1] & 0x1F) << 8) | data[i + 2] for i in range(0, len(data), TS_PACKET_SIZE)]


@pytest.fixture(scope="module")
def clip() -> bytes:
    return make_test_clip(3.0, 64, 64, 30.0, audio="aac", keyframe_seconds=1.0)


def test_one_segment_per_keyframe_interval_and_nothing_lost(clip: bytes) -> None:
    segments = split_segments(clip)
    assert len(segments) == 3
    assert b"".join(segments) == clip


def test_each_segment_starts_with_tables_then_a_keyframe(clip: bytes) -> None:
    for segment in split_segments(clip):
        pids = _pids(segment)
        assert pids[0] in (PAT_PID, SDT_PID)
        assert PAT_PID in pids[:2]
        first_video = next(i for i, pid in enumerate(pids) if pid == 0x100)
        assert is_random_access_start(segment, first_video * TS_PACKET_SIZE)
        assert set(pids[:first_video]) <= {PAT_PID, SDT_PID, 0x1000}


def test_each_segment_decodes_alone_from_a_keyframe(clip: bytes) -> None:
    for n, segment in enumerate(split_segments(clip)):
        decoded = DecodedClip(segment)
        assert len(decoded.video) == 30
        assert decoded.video[0].key_frame
        assert decoded.numbers()[0] == 30 * n
        assert decoded.audio_samples > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_chunking_gives_the_same_segments(clip: bytes, seed: int) -> None:
    rnd = random.Random(seed)
    sink = SegmentCollector()
    segmenter = TsSegmenter(sink)
    pos = 0
    while pos < len(clip):
        step = rnd.choice([1, 7, 187, 188, 189, 1000, 5000])
        segmenter.feed(clip[pos : pos + step])
        pos += step
    segmenter.flush()
    assert [bytes(s) for s in sink.segments] == split_segments(clip)
    assert sink.events[0] == "begin" and sink.events[-1] == "end"
    assert sink.events.count("begin") == sink.events.count("end") == 3


def test_bytes_are_passed_on_before_the_segment_ends(clip: bytes) -> None:
    sink = SegmentCollector()
    segmenter = TsSegmenter(sink)
    first = split_segments(clip)[0]
    segmenter.feed(first[: len(first) // 2])
    assert sink.open and len(sink.segments[0]) >= len(first) // 2 - 4 * TS_PACKET_SIZE
    segmenter.feed(first[len(first) // 2 :])
    assert sink.open  # the end is only known when the next keyframe arrives
    segmenter.flush()
    assert not sink.open and bytes(sink.segments[0]) == first
