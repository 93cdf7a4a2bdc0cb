"""StreamDecoder: TS bytes fed as they arrive → RGB frames with 90 kHz pts, audio frames."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from trickle_live.trickle.media.decoder import StreamDecoder
from trickle_live.trickle.media.frames import VideoFrame
from trickle_live.trickle.media.testclip import (
    make_test_clip,
    read_frame_number,
    split_segments,
)

from .decode_run import Run, decode_segments, picture_error

FPS = 30
START = 90_000


def decode(data: bytes, chunk: int = 700, audio: bool = True, **kw: object) -> Run:
    return decode_segments([data], boundaries=False, chunk=chunk, audio=audio, **kw)


@pytest.fixture(scope="module")
def segments() -> list[bytes]:
    return split_segments(make_test_clip(4.0, 64, 64, FPS))


def test_frames_pts_and_pictures_are_exact(segments: list[bytes]) -> None:
    run = decode(b"".join(segments))
    assert [f.pts for f in run.video] == [START + 3000 * i for i in range(120)]
    assert run.numbers == list(range(120))
    assert [f.index for f in run.video] == list(range(120))
    first = run.video[0].image
    assert first.dtype == np.uint8 and first.shape == (64, 64, 3) and first.flags.c_contiguous
    assert run.errors == [] and run.audio == []
    assert run.stats.frames == 120 and (run.stats.width, run.stats.height) == (64, 64)
    assert not run.stats.has_audio
    assert all(f.received_at > 0 for f in run.video)
    assert max(picture_error(f) for f in run.video) < 8


def test_tiny_random_chunks_give_the_same_frames(segments: list[bytes]) -> None:
    data = b"".join(segments[:2])
    rnd = random.Random(7)
    run = Run()
    decoder = StreamDecoder(run.video.append, on_error=run.errors.append)
    decoder.start()
    pos = 0
    while pos < len(data):
        step = rnd.randint(1, 19)
        decoder.feed(data[pos : pos + step])
        pos += step
    decoder.end()
    assert decoder.wait(20)
    assert run.numbers == list(range(60)) and run.errors == []


def test_decoding_starts_before_the_segment_is_complete(segments: list[bytes]) -> None:
    frames: list[VideoFrame] = []
    decoder = StreamDecoder(frames.append)
    decoder.start()
    try:
        first = segments[0]
        decoder.feed(first[: len(first) // 2])
        deadline = time.monotonic() + 5
        while len(frames) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [read_frame_number(f.image) for f in frames[:10]] == list(range(10))
    finally:
        decoder.close()
    assert not decoder.running


@pytest.mark.parametrize("codec", ["aac", "opus"])
def test_audio_frames_with_timestamps(codec: str) -> None:
    data = make_test_clip(2.0, 64, 64, FPS, audio=codec)
    run = decode(data)
    assert run.stats.has_audio and run.stats.audio_codec == codec
    assert len(run.video) == 60 and run.errors == []
    samples = sum(a.frame.samples for a in run.audio)
    assert abs(samples - 2 * 48_000) <= 2048
    pts = [a.pts for a in run.audio]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    assert abs(pts[0] - START) < 3000  # audio starts with the video (less encoder priming)
    step = 1024 if codec == "aac" else 960
    assert all(b - a == step * 90_000 // 48_000 for a, b in zip(pts, pts[1:], strict=False))


def test_audio_is_ignored_without_a_callback() -> None:
    run = decode(make_test_clip(1.0, 64, 64, FPS, audio="aac"), audio=False)
    assert len(run.video) == 30 and run.audio == [] and run.stats.audio_frames == 0


def test_truncated_segment_skips_to_the_next_keyframe(segments: list[bytes]) -> None:
    cut = segments[1][: len(segments[1]) // 2 + 77]  # not on a packet boundary
    run = decode(segments[0] + cut + segments[2] + segments[3])
    numbers = run.numbers
    assert numbers[:30] == list(range(30))
    assert numbers[-60:] == list(range(60, 120))
    assert numbers == sorted(numbers) and len(numbers) < 120
    assert run.stats.errors == 1 and len(run.errors) == 1
    assert "keyframe" in run.errors[0]


@pytest.mark.parametrize("damage", ["zeroed", "overwritten", "packets removed"])
def test_corrupt_segment_is_reported_and_decoding_resumes(
    segments: list[bytes], damage: str
) -> None:
    seg = segments[1]
    rnd = random.Random(3)
    bad = {
        "zeroed": seg[:3000] + bytes(1000) + seg[4000:],
        "overwritten": seg[: 188 * 20] + rnd.randbytes(188 * 3) + seg[188 * 23 :],
        "packets removed": seg[: 188 * 20] + seg[188 * 22 :],
    }[damage]
    run = decode(segments[0] + bad + segments[2] + segments[3])
    numbers = run.numbers
    assert numbers[:30] == list(range(30)) and numbers[-60:] == list(range(60, 120))
    assert run.stats.errors == 1 and len(run.errors) == 1
    assert max(picture_error(f) for f in run.video) < 8  # no concealed garbage got through


def test_stream_that_starts_without_a_keyframe(segments: list[bytes]) -> None:
    run = decode(segments[0][3000:] + segments[1] + segments[2])
    assert run.numbers == list(range(30, 90))
    assert run.stats.skipped_packets > 0
    assert run.errors == []


def test_garbage_before_and_between_segments_is_survived(segments: list[bytes]) -> None:
    rnd = random.Random(5)
    run = decode(rnd.randbytes(3000) + segments[0] + rnd.randbytes(5000) + segments[1])
    assert run.numbers[:30] == list(range(30)) and run.numbers[-30:] == list(range(30, 60))


def test_only_garbage_ends_cleanly() -> None:
    run = decode(random.Random(9).randbytes(40_000))
    assert run.video == []


def test_max_fps_drops_evenly_and_counts(segments: list[bytes]) -> None:
    data = b"".join(segments)
    half = decode(data, max_fps=15)
    assert half.numbers == list(range(0, 120, 2)) and half.stats.dropped_fps == 60
    cap = decode(data, max_fps=24)
    assert len(cap.video) == 96 and cap.stats.dropped_fps == 24
    gaps = {b - a for a, b in zip(cap.numbers, cap.numbers[1:], strict=False)}
    assert gaps == {1, 2}  # never two drops in a row: evenly spread
    assert cap.stats.decoded == 120


def test_resolution_change_mid_stream(segments: list[bytes]) -> None:
    later = make_test_clip(1.0, 96, 48, FPS, start_pts=START + 4 * 90_000, first_index=120)
    run = decode(b"".join(segments) + later)
    shapes = [f.image.shape for f in run.video]
    assert shapes[0] == (64, 64, 3) and shapes[-1] == (48, 96, 3)
    assert run.numbers[-30:] == list(range(120, 150))
    assert len(run.video) >= 149  # at most the frame at the splice is lost
    assert run.stats.resolution_changes == 1
    assert (run.stats.width, run.stats.height) == (96, 48)


def test_timestamp_discontinuity_passes_pts_through_and_flags_it(segments: list[bytes]) -> None:
    restart = make_test_clip(1.0, 64, 64, FPS, start_pts=START, first_index=200)
    run = decode(b"".join(segments[:2]) + restart)
    assert run.stats.discontinuities == 1
    jump = next(i for i, f in enumerate(run.video) if f.meta.get("discontinuity"))
    assert run.video[jump].pts == START and run.numbers[jump] == 200
    assert run.video[jump - 1].pts > START
    assert [f.pts for f in run.video[jump:]] == [START + 3000 * i for i in range(30)]


def test_close_while_waiting_for_input_returns_quickly(segments: list[bytes]) -> None:
    decoder = StreamDecoder(lambda frame: None)
    decoder.start()
    decoder.feed(segments[0][:1000])
    started = time.monotonic()
    decoder.close(timeout=5)
    assert not decoder.running and time.monotonic() - started < 2


def test_a_failing_callback_is_reported_and_ends_the_thread(segments: list[bytes]) -> None:
    errors: list[str] = []

    def boom(frame: VideoFrame) -> None:
        raise RuntimeError("consumer broke")

    decoder = StreamDecoder(boom, on_error=errors.append)
    decoder.start()
    decoder.feed(segments[0])
    assert decoder.wait(5)
    decoder.close()
    assert any("consumer broke" in e for e in errors)
