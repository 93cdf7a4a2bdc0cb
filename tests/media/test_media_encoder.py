"""StreamEncoder: frames → one continuous TS stream, cut into segments at forced keyframes."""

from __future__ import annotations

import io
import threading
import time

import av
import numpy as np
import pytest
from av.video.frame import PictureType
from trickle_live.trickle.media.decoder import StreamDecoder
from trickle_live.trickle.media.encoder import StreamEncoder
from trickle_live.trickle.media.frames import AudioFrame, VideoFrame
from trickle_live.trickle.media.segmenter import PAT_PID, SDT_PID
from trickle_live.trickle.media.testclip import (
    DecodedClip,
    SegmentCollector,
    make_test_clip,
    pattern_frame,
)

START = 90_000
TICK = 3000  # 30 fps


def frames(count: int, width: int = 64, height: int = 64, first: int = 0) -> list[VideoFrame]:
    return [
        VideoFrame(pattern_frame(first + i, width, height), START + TICK * (first + i), first + i)
        for i in range(count)
    ]


def encode(
    items: list[VideoFrame], audio: list[AudioFrame] | None = None, **kw: object
) -> tuple[SegmentCollector, StreamEncoder]:
    sink = SegmentCollector()
    encoder = StreamEncoder(sink, audio=audio is not None, queue_size=1000, threads=1, **kw)  # type: ignore[arg-type]
    encoder.start()
    pending = list(audio or [])
    for frame in items:
        while pending and pending[0].pts <= frame.pts:
            encoder.put_audio(pending.pop(0))
        encoder.put_video(frame)
    encoder.close(timeout=20)
    assert not encoder.running
    return sink, encoder


def first_pid(segment: bytes) -> int:
    return ((segment[1] & 0x1F) << 8) | segment[2]


@pytest.fixture(scope="module")
def encoded() -> tuple[SegmentCollector, StreamEncoder]:
    return encode(frames(105))


def test_a_segment_per_second_each_starting_at_a_keyframe(
    encoded: tuple[SegmentCollector, StreamEncoder],
) -> None:
    sink, encoder = encoded
    assert len(sink.segments) == 4 == encoder.stats.segments == encoder.stats.keyframes
    assert sink.events.count("begin") == sink.events.count("end") == 4
    for n, segment in enumerate(sink.segments):
        assert first_pid(segment) in (PAT_PID, SDT_PID)
        alone = DecodedClip(bytes(segment))
        assert alone.video[0].key_frame
        assert sum(f.key_frame for f in alone.video) == 1
        assert alone.pts[0] == START + 30 * TICK * n
        assert alone.numbers()[0] == 30 * n
        assert len(alone.video) == (30 if n < 3 else 15)


def test_concatenated_segments_are_one_stream_with_input_pts(
    encoded: tuple[SegmentCollector, StreamEncoder],
) -> None:
    sink, encoder = encoded
    whole = DecodedClip(sink.data())
    assert whole.pts == [START + TICK * i for i in range(105)]
    assert whole.numbers() == list(range(105))
    assert whole.codecs == ["h264"]
    assert all(f.format.name == "yuv420p" for f in whole.video)
    assert encoder.stats.frames == 105 and encoder.stats.errors == 0


def test_no_b_frames_and_low_latency_settings(
    encoded: tuple[SegmentCollector, StreamEncoder],
) -> None:
    sink, _ = encoded
    decoded = DecodedClip(sink.data())
    assert {PictureType(f.pict_type).name for f in decoded.video} == {"I", "P"}
    with av.open(io.BytesIO(sink.data()), format="mpegts") as container:
        packets = [p for p in container.demux(video=0) if p.size]
    assert all(p.dts == p.pts for p in packets)  # no reordering: no B-frames, no delay
    assert [p.is_keyframe for p in packets].count(True) == 4


def test_segment_seconds_is_configurable() -> None:
    sink, _ = encode(frames(60), segment_seconds=0.5)
    assert len(sink.segments) == 4
    assert [DecodedClip(bytes(s)).pts[0] for s in sink.segments] == [
        START + 15 * TICK * n for n in range(4)
    ]


def test_first_bytes_leave_before_the_segment_is_complete() -> None:
    sink = SegmentCollector()
    encoder = StreamEncoder(sink, threads=1)
    encoder.start()
    try:
        encoder.put_video(frames(1)[0])
        deadline = time.monotonic() + 10
        while not sink.segments and time.monotonic() < deadline:
            time.sleep(0.005)
        assert sink.events[:2] == ["begin", "write"] and sink.open
        assert DecodedClip(sink.data()).numbers() == [0]  # the first frame is already readable
    finally:
        encoder.close()
    assert sink.events[-1] == "end"


def test_size_change_reinitialises_and_starts_a_segment() -> None:
    items = frames(20) + frames(20, 96, 48, first=20) + frames(10, first=40)
    sink, encoder = encode(items)
    assert encoder.stats.reinits == 2
    assert len(sink.segments) == 3
    shapes = [(s, DecodedClip(bytes(s)).video[0]) for s in sink.segments]
    assert [(f.width, f.height, f.key_frame) for _, f in shapes] == [
        (64, 64, True),
        (96, 48, True),
        (64, 64, True),
    ]
    whole = DecodedClip(sink.data())
    assert whole.pts == [START + TICK * i for i in range(50)]
    assert whole.numbers() == list(range(50))


def test_odd_sizes_lose_the_last_row_and_column() -> None:
    sink, encoder = encode([VideoFrame(pattern_frame(0, 65, 33), START)])
    frame = DecodedClip(sink.data()).video[0]
    assert (frame.width, frame.height) == (64, 32) == (encoder.stats.width, encoder.stats.height)


def test_backwards_pts_keep_the_output_monotonic() -> None:
    items = frames(10) + [
        VideoFrame(pattern_frame(10 + i, 64, 64), START + TICK * i) for i in range(5)
    ]
    sink, encoder = encode(items)
    pts = DecodedClip(sink.data()).pts
    assert pts == [START + TICK * i for i in range(15)]
    assert encoder.stats.pts_adjustments == 1


def test_a_bad_frame_is_reported_and_skipped() -> None:
    errors: list[str] = []
    bad = VideoFrame(np.zeros((8, 8, 3), np.float32), START + TICK)
    sink, encoder = encode(frames(1) + [bad] + frames(2, first=2), on_error=errors.append)
    assert len(errors) == 1 and "uint8" in errors[0]
    assert DecodedClip(sink.data()).numbers() == [0, 2, 3]


def test_a_failing_sink_stops_the_encoder_and_is_reported() -> None:
    class Broken(SegmentCollector):
        def write(self, data: bytes) -> None:
            raise OSError("publisher gone")

    errors: list[str] = []
    encoder = StreamEncoder(Broken(), on_error=errors.append, threads=1)
    encoder.start()
    encoder.put_video(frames(1)[0])
    deadline = time.monotonic() + 10
    while encoder.running and time.monotonic() < deadline:
        time.sleep(0.01)
    encoder.close()
    assert not encoder.running
    assert errors and "publisher gone" in errors[0]
    assert encoder.stats.last_error == errors[0]


def test_a_slow_sink_drops_the_oldest_frames_and_counts_them() -> None:
    class Slow(SegmentCollector):
        def write(self, data: bytes) -> None:
            time.sleep(0.02)
            super().write(data)

    sink = Slow()
    encoder = StreamEncoder(sink, queue_size=2, threads=1)
    encoder.start()
    for frame in frames(30):
        encoder.put_video(frame)
    encoder.close(timeout=20)
    stats = encoder.stats
    assert stats.dropped > 0 and stats.frames + stats.dropped == 30
    assert DecodedClip(sink.data()).numbers()[-1] == 29  # the newest frame survives


def test_max_age_encodes_a_burst_whole_and_drops_only_frames_that_waited_too_long() -> None:
    """With ``max_age`` the queue size is only a memory bound: 20 frames put at once (a burst)
    while the thread is not yet running are all encoded; frames that waited longer than
    ``max_age`` with a newer one behind them are dropped and counted."""
    sink = SegmentCollector()
    encoder = StreamEncoder(sink, queue_size=64, max_age=0.3, threads=1)
    old, burst = frames(5), frames(20, first=5)
    for frame in old:
        encoder.put_video(frame)
    time.sleep(0.4)  # the first five are now too old
    for frame in burst:
        encoder.put_video(frame)
    encoder.start()
    encoder.close(timeout=20)
    assert encoder.stats.dropped == 5 and encoder.stats.frames == 20
    assert DecodedClip(sink.data()).numbers() == list(range(5, 25))


def test_max_age_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_age"):
        StreamEncoder(SegmentCollector(), max_age=0)


@pytest.mark.parametrize("codec", ["aac", "opus"])
def test_audio_is_encoded_as_opus_after_the_first_keyframe(codec: str) -> None:
    clip = make_test_clip(2.0, 64, 64, 30, audio=codec)
    video: list[VideoFrame] = []
    audio: list[AudioFrame] = []
    decoder = StreamDecoder(video.append, audio.append)
    decoder.start()
    decoder.feed(clip)
    decoder.end()
    assert decoder.wait(10)
    sink, encoder = encode(video, audio)
    assert len(sink.segments) == 2
    for segment in sink.segments:
        assert first_pid(segment) in (PAT_PID, SDT_PID)
        assert DecodedClip(bytes(segment)).video[0].key_frame
    whole = DecodedClip(sink.data())
    assert whole.codecs == ["h264", "opus"]
    assert whole.pts == [f.pts for f in video]
    assert abs(whole.audio_samples - 2 * 48_000) <= 2 * 960 + 1024
    assert whole.audio_pts == sorted(whole.audio_pts)
    assert abs(whole.audio_pts[0] - video[0].pts) < 3000
    assert encoder.stats.audio_frames > 90


def test_put_from_many_threads_is_safe() -> None:
    sink = SegmentCollector()
    encoder = StreamEncoder(sink, queue_size=1000, threads=1)
    encoder.start()
    items = frames(40)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not items:
                    return
                encoder.put_video(items.pop(0))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    encoder.close(timeout=20)
    assert encoder.stats.frames == 40
