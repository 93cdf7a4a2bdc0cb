"""The helpers of benchmarks/compare.py that decide its figures: clip layout, output pts scan,
the closed-loop feed gate, frame matching and the best-of-rounds merge."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from _feed import (  # noqa: E402
    ClipLayout,
    FeedGate,
    FeedLog,
    OutputLog,
    latency_ms,
    output_frames,
    throughput,
)
from _report import paired  # noqa: E402
from compare import best_of  # noqa: E402

from trickle.media.testclip import make_test_clip, split_segments  # noqa: E402

FPS = 30.0


@pytest.fixture(scope="module")
def clip() -> bytes:
    return make_test_clip(2.0, 64, 64, FPS)  # keyframe every second: 2 segments, 60 frames


def test_layout_keeps_every_byte_and_starts_each_segment_once(clip: bytes) -> None:
    layout = ClipLayout.of(clip)
    assert layout.frames == 60
    assert b"".join(data for frame in layout.pieces for data, _ in frame) == clip
    starts = [data for frame in layout.pieces for data, new in frame if new]
    assert starts == [seg[: len(d)] for seg, d in zip(split_segments(clip), starts, strict=True)]


def test_output_scan_finds_the_newest_pts_across_odd_chunks(clip: bytes) -> None:
    log = OutputLog()
    for i in range(0, len(clip), 1000):  # chunks that cut TS packets
        log.add(clip[i : i + 1000])
    assert log.newest_pts == 90_000 + 59 * 3000
    assert len(log.times) == len(log.ends) == -(-len(clip) // 1000)


def test_frames_are_matched_by_barcode_and_timed_by_arrival(clip: bytes) -> None:
    log = OutputLog()
    log.add(clip)
    frames = output_frames(log)
    assert sorted(frames) == list(range(60))
    feed = FeedLog(available={n: log.times[0] - 0.010 for n in range(60)}, measure_from=30)
    lat = latency_ms(feed, frames, 30, 60)
    assert len(lat) == 30 and all(9.0 < v < 11.0 for v in lat)
    feed.measure_started = log.times[0] - 0.5
    assert throughput(feed, frames) == pytest.approx(30 / 0.5, rel=0.01)


async def test_gate_waits_for_output_progress_and_opens_on_a_stall() -> None:
    out = OutputLog()
    gate = FeedGate(out, FPS, 90_000, lead=2, stall_s=0.2)
    await asyncio.wait_for(gate.wait_for(1), 0.1)  # within the lead of "nothing yet" (-1)
    waiter = asyncio.create_task(gate.wait_for(5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    out.newest_pts = 90_000 + 3 * 3000  # frame 3 came out: 5 - 3 <= 2
    out.progressed.set()
    await asyncio.wait_for(waiter, 0.1)
    assert gate.stalls == 0
    await asyncio.wait_for(gate.wait_for(50), 1.0)  # no output any more: opens after stall_s
    assert gate.stalls == 1


def test_best_of_keeps_best_timing_and_worst_memory() -> None:
    runs = [
        {"fps": 100.0, "latency_ms_p50": 40.0, "peak_rss_mb": 900.0, "log_errors": 0},
        {"fps": 150.0, "latency_ms_p50": 45.0, "peak_rss_mb": 950.0, "log_errors": 1},
    ]
    best = best_of(runs)
    assert best["fps"] == 150.0 and best["latency_ms_p50"] == 40.0
    assert best["peak_rss_mb"] == 950.0 and best["log_errors"] == 1 and best["runs"] == 2


def test_paired_ratios_are_taken_round_by_round() -> None:
    runs = {
        "floor": [{"fps": 300.0}, {"fps": 400.0}, {"fps": 200.0}],
        "trickle-live": [{"fps": 270.0}, {"fps": 280.0}, {"fps": None}],
        "pytrickle": [{"fps": 180.0}, {"fps": 140.0}],
    }
    assert paired(runs) == [
        "per round ours / floor: 0.90 0.70 (median 0.80)",
        "per round ours / pytrickle: 1.50 2.00 (median 1.75)",
    ]
    assert paired({"floor": [{"fps": 1.0}]}) == []
