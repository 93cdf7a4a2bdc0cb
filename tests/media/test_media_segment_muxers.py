"""Input segments that are each their own MPEG-TS muxer run (go-livepeer WHIP ingest, livepeer-gateway).

Every segment starts with PAT/PMT and a keyframe, but its continuity counters restart at 0, its
PIDs may differ from the previous segment's, and (FFmpeg's default) its video PES carry no length.
Fed to one demuxer, each segment's last frame looked damaged. The decoder must hand on every
frame, with exact pts, and report nothing: with ``end_segment()`` after each segment, and also
where one trickle segment holds several muxer runs (livepeer-gateway) or no boundary is given.
Damage must still be reported and skipped.
"""

from __future__ import annotations

import random
import time

import pytest
from trickle_live.trickle.media.decoder import StreamDecoder
from trickle_live.trickle.media.frames import VideoFrame
from trickle_live.trickle.media.pipe import BytePipe
from trickle_live.trickle.media.testclip import (
    DecodedClip,
    make_test_clip,
    read_frame_number,
    split_segments,
)
from trickle_live.trickle.media.ts_restarts import MuxerRestarts

from .decode_run import Run
from .decode_run import decode_segments as decode

FPS = 30
SEG_FRAMES = 15  # 0.5 s segments, like the interop test's publisher
START = 90_000
TICKS = 3000  # 90 kHz ticks per frame at 30 fps


def fresh_segments(
    count: int = 4,
    *,
    width: int = 64,
    pes_length: bool = False,
    new_pids: bool = False,
    audio: bool | str = False,
    first: int = 0,
) -> list[bytes]:
    """``count`` segments, each muxed by its own PyAV mpegts muxer, timestamps continuing."""
    out = []
    for n in range(first, first + count):
        options = {}
        if new_pids and n % 2:
            options = {"mpegts_start_pid": "0x300", "mpegts_pmt_start_pid": "0x1200"}
        out.append(
            make_test_clip(
                SEG_FRAMES / FPS,
                width,
                width,
                FPS,
                audio,
                keyframe_seconds=SEG_FRAMES / FPS,
                start_pts=START + n * SEG_FRAMES * TICKS,
                first_index=n * SEG_FRAMES,
                pes_length=pes_length,
                mux_options=options,
            )
        )
    return out


def expect_all(run: Run, frames: int, first: int = 0) -> None:
    assert run.numbers == list(range(first, first + frames))
    assert run.pts == [START + TICKS * i for i in range(first, first + frames)]
    assert run.errors == [] and run.stats.errors == 0
    assert run.stats.discontinuities == 0 and run.stats.skipped_packets == 0


@pytest.mark.parametrize(
    "variant", ["pes without length", "pes with length", "new pids every other segment"]
)
def test_every_frame_of_fresh_muxer_segments_arrives(variant: str) -> None:
    segments = fresh_segments(
        6, pes_length=variant == "pes with length", new_pids=variant.startswith("new pids")
    )
    run = decode(segments)
    expect_all(run, 6 * SEG_FRAMES)
    assert run.worst_picture() < 8


@pytest.mark.parametrize(
    "variant", ["pes without length", "pes with length", "new pids", "opus", "no boundaries"]
)
def test_muxer_restarts_inside_a_segment_are_found(variant: str) -> None:
    """livepeer-gateway's MediaPublish puts two (or more) muxer runs into one trickle segment."""
    runs = fresh_segments(
        6,
        pes_length=variant == "pes with length",
        new_pids=variant == "new pids",
        audio="opus" if variant == "opus" else False,
    )
    pairs = [runs[i] + runs[i + 1] for i in range(0, 6, 2)]
    run = decode(pairs, boundaries=variant != "no boundaries")
    expect_all(run, 6 * SEG_FRAMES)
    assert run.stats.muxer_restarts == (5 if variant == "no boundaries" else 3)
    assert run.stats.audio_errors == 0


def test_lost_packets_with_a_pat_in_them_are_damage_not_a_restart() -> None:
    """A PAT whose counter jumps but is followed by a frame that is no keyframe: damage."""
    segments = split_segments(make_test_clip(3.0, 128, 128, FPS, keyframe_seconds=1.0))
    seg = segments[1]
    pats = [i for i in range(188, len(seg), 188) if seg[i + 1] == 0x40 and seg[i + 2] == 0]
    pat = pats[len(pats) // 2]  # a PAT FFmpeg repeats in the middle of the GOP
    run = decode([segments[0], seg[:pat] + seg[pat + 3 * 188 :], segments[2]], boundaries=False)
    assert run.stats.muxer_restarts == 0
    assert run.numbers[:30] == list(range(30)) and run.numbers[-30:] == list(range(60, 90))
    assert run.stats.errors == 1 and len(run.errors) == 1
    assert run.worst_picture() < 8


def test_a_muxer_run_cut_inside_a_frame_before_the_next_run_is_reported() -> None:
    runs = fresh_segments(3, width=256)
    cut = cut_inside_a_frame(runs[1])
    run = decode([runs[0] + runs[1][:cut] + runs[2]], boundaries=False)
    assert run.stats.muxer_restarts == 2
    assert run.numbers[:SEG_FRAMES] == list(range(SEG_FRAMES))
    assert run.numbers[-SEG_FRAMES:] == list(range(2 * SEG_FRAMES, 3 * SEG_FRAMES))
    assert run.stats.errors == 1 and len(run.errors) == 1
    assert run.worst_picture() < 8


@pytest.mark.parametrize("seed", [8, 9])
def test_restarts_are_found_after_garbage(seed: int) -> None:
    runs = fresh_segments(3)
    garbage = random.Random(seed).randbytes(1000)
    run = decode([runs[0] + garbage + runs[1] + runs[2]], boundaries=False)
    expect_all(run, 3 * SEG_FRAMES)
    assert run.stats.muxer_restarts == 2


@pytest.mark.parametrize("boundaries", [True, False])
def test_tiny_random_chunks_across_fresh_muxers(boundaries: bool) -> None:
    data = fresh_segments(3, new_pids=True)
    rnd = random.Random(11)
    run = Run()
    decoder = StreamDecoder(run.video.append, on_error=run.errors.append)
    decoder.start()
    for segment in data:
        pos = 0
        while pos < len(segment):
            step = rnd.randint(1, 23)
            decoder.feed(segment[pos : pos + step])
            pos += step
        if boundaries:
            decoder.end_segment()
    decoder.end()
    assert decoder.wait(20)
    run.stats = decoder.stats
    expect_all(run, 3 * SEG_FRAMES)


def test_continuous_stream_with_boundaries_decodes_the_same() -> None:
    """Our own encoder's output (one muxer, cut at keyframes) with end_segment after each cut."""
    segments = split_segments(make_test_clip(3.0, 64, 64, FPS, keyframe_seconds=0.5))
    assert len(segments) == 6
    expect_all(decode(segments), 90)


def wait_for(frames: list[VideoFrame], count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(frames) < count and time.monotonic() < deadline:
        time.sleep(0.005)


def test_segment_end_hands_on_the_last_frame_without_waiting_for_the_next_segment() -> None:
    first, second = fresh_segments(2)
    frames: list[VideoFrame] = []
    decoder = StreamDecoder(frames.append)
    decoder.start()
    try:
        decoder.feed(first)
        wait_for(frames, SEG_FRAMES - 1)
        time.sleep(0.2)
        # the last PES has no length: it is complete only when something says so
        assert len(frames) == SEG_FRAMES - 1
        decoder.end_segment()
        wait_for(frames, SEG_FRAMES)
        assert [read_frame_number(f.image) for f in frames] == list(range(SEG_FRAMES))
        decoder.feed(second[: len(second) // 2])  # and the next segment streams as it arrives
        wait_for(frames, SEG_FRAMES + 3)
        assert len(frames) >= SEG_FRAMES + 3
        decoder.feed(second[len(second) // 2 :])
        decoder.end_segment()
        wait_for(frames, 2 * SEG_FRAMES)
        assert [read_frame_number(f.image) for f in frames] == list(range(2 * SEG_FRAMES))
    finally:
        decoder.close()
    assert not decoder.running and decoder.stats.errors == 0


@pytest.mark.parametrize("codec", ["aac", "opus"])
def test_audio_continues_across_fresh_muxers(codec: str) -> None:
    segments = fresh_segments(4, audio=codec)
    run = decode(segments)
    expect_all(run, 4 * SEG_FRAMES)
    assert run.stats.has_audio and run.stats.audio_codec == codec
    assert run.stats.audio_errors == 0
    # every audio sample plain PyAV finds in each segment alone, none lost at the boundaries
    # (each generated segment has its own encoder priming, so segments overlap a little)
    samples = sum(a.frame.samples for a in run.audio)
    assert samples == sum(DecodedClip(s).audio_samples for s in segments)
    step = (1024 if codec == "aac" else 960) * 90_000 // 48_000
    for n in range(4):
        begin = START + n * SEG_FRAMES * TICKS
        inside = [a.pts for a in run.audio if begin <= a.pts < begin + SEG_FRAMES * TICKS]
        assert len(inside) >= SEG_FRAMES * TICKS // step - 1, (n, inside)


def test_resolution_change_between_fresh_muxers() -> None:
    small = fresh_segments(2)
    large = fresh_segments(2, width=96, first=2)
    run = decode(small + large)
    expect_all(run, 4 * SEG_FRAMES)
    assert run.video[0].image.shape == (64, 64, 3) and run.video[-1].image.shape == (96, 96, 3)
    assert run.stats.resolution_changes == 1


def cut_inside_a_frame(segment: bytes) -> int:
    """A packet boundary inside the last video PES (of the ones after the first) spanning 3+."""
    starts = [  # TS packets that begin a video PES (PUSI on the first elementary PID, 0x100)
        i
        for i in range(0, len(segment), 188)
        if segment[i + 1] & 0x40 and (segment[i + 1] & 0x1F) << 8 | segment[i + 2] == 0x100
    ]
    spans = [(a, b) for a, b in zip(starts[1:], starts[2:], strict=False) if b - a >= 3 * 188]
    assert spans, "no video PES of three packets or more"
    return spans[-1][0] + 188


@pytest.mark.parametrize("pes_length", [False, True])
def test_segment_cut_inside_a_frame_is_reported_and_skipped(pes_length: bool) -> None:
    segments = fresh_segments(3, width=256, pes_length=pes_length)
    cut = cut_inside_a_frame(segments[1])
    run = decode([segments[0], segments[1][:cut], segments[2]])
    numbers = run.numbers
    assert numbers[:SEG_FRAMES] == list(range(SEG_FRAMES))
    assert numbers[-SEG_FRAMES:] == list(range(2 * SEG_FRAMES, 3 * SEG_FRAMES))
    assert numbers == sorted(numbers) and len(numbers) < 3 * SEG_FRAMES
    assert run.stats.errors == 1 and len(run.errors) == 1 and "keyframe" in run.errors[0]
    assert run.worst_picture() < 8  # the partial frame did not get through


def test_packets_lost_inside_a_fresh_muxer_segment_are_still_damage() -> None:
    segments = fresh_segments(3, width=128)
    seg = segments[1]
    run = decode([segments[0], seg[: 188 * 12] + seg[188 * 14 :], segments[2]])
    assert run.numbers[:SEG_FRAMES] == list(range(SEG_FRAMES))
    assert run.numbers[-SEG_FRAMES:] == list(range(2 * SEG_FRAMES, 3 * SEG_FRAMES))
    assert run.stats.errors == 1 and len(run.errors) == 1
    assert run.worst_picture() < 8


def test_empty_and_garbage_segments() -> None:
    segments = fresh_segments(3)
    garbage = random.Random(4).randbytes(188 * 30)
    run = decode([segments[0], b"", garbage, segments[1], b"", segments[2]])
    assert run.numbers == list(range(3 * SEG_FRAMES))
    assert len(run.errors) == 1 and "segment without an MPEG-TS stream" in run.errors[0]


def test_pipe_boundary_is_an_eof_until_resume() -> None:
    pipe = BytePipe()
    pipe.write(b"abc")
    pipe.mark_boundary()
    pipe.write(b"def")
    assert pipe.read(10) == b"abc"  # never across the boundary
    assert pipe.read(10) == b"" and pipe.at_boundary and pipe.boundaries_read == 1
    assert pipe.read(10) == b""  # sticky: a demuxer may read again after an EOF
    pipe.resume()
    assert not pipe.at_boundary
    assert pipe.read(10) == b"def"
    pipe.mark_boundary()
    pipe.mark_boundary()  # an empty segment
    pipe.end()
    assert pipe.exhausted  # boundaries are not bytes
    assert pipe.read(10) == b"" and pipe.boundaries_read == 2
    pipe.resume()
    assert pipe.read(10) == b"" and pipe.boundaries_read == 3
    pipe.resume()
    assert pipe.read(10) == b""
    assert pipe.bytes_read == 6


def test_a_segment_with_a_damaged_pmt_loses_nothing() -> None:
    """Its own demuxer finds the streams by probing their PES (H.264, Opus framing)."""
    segments = fresh_segments(3, audio="opus")
    seg = bytearray(segments[1])
    pmt = next(
        i for i in range(0, len(seg), 188) if (seg[i + 1] & 0x1F) << 8 | seg[i + 2] == 0x1000
    )
    seg[pmt + 8 : pmt + 40] = bytes(32)  # the PMT section: its CRC no longer matches
    run = decode([segments[0], bytes(seg), segments[2]])
    expect_all(run, 3 * SEG_FRAMES)
    samples = sum(a.frame.samples for a in run.audio)
    assert samples == sum(DecodedClip(s).audio_samples for s in segments)


def test_new_pids_the_restart_scan_misses_do_not_end_the_decoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PyAV cannot take a stream added after open: the decoder reopens instead of dying."""
    monkeypatch.setattr(MuxerRestarts, "_check_pat", lambda self, i: None)  # scan finds nothing
    run = decode([b"".join(fresh_segments(4, new_pids=True))], boundaries=False)
    assert run.stats.muxer_restarts == 0
    assert any("stream added after open" in e for e in run.errors)
    assert not any("decoder stopped" in e for e in run.errors)
    later = [n for n in run.numbers if n >= 2 * SEG_FRAMES]  # frames after the reopen
    assert later and later == sorted(later)
