"""Input segments that are each their own TS muxer run: latency and cost of segment boundaries.

Generates ``--segments`` segments of ``--frames`` frames (512x512, 30 fps), each muxed by its own
PyAV mpegts muxer with FFmpeg's default video PES without a length (what go-livepeer's WHIP
ingest and livepeer-gateway send). It measures, on the product's StreamDecoder:

- latency, real-time pacing: each frame's bytes are fed at its time (30 fps); latency = from the
  feed of a frame's last byte to its on_video call, for a segment's last frame and for the others,
  (a) with ``end_segment()`` after each segment (what the session does), (b) without it (muxer
  restarts are found in the bytes, so the last frame waits for the next segment's first packets);
- decode throughput with all input available, with and without boundaries (a demuxer per segment
  costs an open), and the CPU time feed() takes on the caller's thread (restart scan).

Run from the repository root:  .venv/bin/python benchmarks/segment_end.py [--json F]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trickle.media.decoder import StreamDecoder  # noqa: E402
from trickle.media.frames import VideoFrame  # noqa: E402
from trickle.media.testclip import make_test_clip  # noqa: E402

FPS = 30
VIDEO_PID = 0x100


def make_segments(count: int, frames: int, size: int) -> list[bytes]:
    return [
        make_test_clip(
            frames / FPS,
            size,
            size,
            FPS,
            keyframe_seconds=frames / FPS,
            start_pts=90_000 + n * frames * 3000,
            first_index=n * frames,
        )
        for n in range(count)
    ]


def frame_pieces(segment: bytes) -> list[bytes]:
    """The segment cut before each video PES start: piece k ends with frame k's last byte."""
    starts = [
        i
        for i in range(0, len(segment), 188)
        if segment[i + 1] & 0x40 and (segment[i + 1] & 0x1F) << 8 | segment[i + 2] == VIDEO_PID
    ]
    cuts = starts[1:] + [len(segment)]
    return [segment[a:b] for a, b in zip([0] + cuts[:-1], cuts, strict=True)]


def paced_latency(segments: list[bytes], boundaries: bool) -> dict[str, float]:
    out_at: dict[int, float] = {}
    done = threading.Event()
    total = sum(len(frame_pieces(s)) for s in segments)

    def on_video(frame: VideoFrame) -> None:
        out_at[frame.pts] = time.perf_counter()
        if len(out_at) == total:
            done.set()

    decoder = StreamDecoder(on_video, threads=1)
    decoder.start()
    fed_at: dict[int, float] = {}
    last_of_segment: set[int] = set()
    start = time.perf_counter()
    index = 0
    for segment in segments:
        pieces = frame_pieces(segment)
        for k, piece in enumerate(pieces):
            delay = start + index / FPS - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            decoder.feed(piece)
            pts = 90_000 + index * 3000
            fed_at[pts] = time.perf_counter()
            if k == len(pieces) - 1:
                last_of_segment.add(pts)
                if boundaries:
                    decoder.end_segment()
            index += 1
    time.sleep(1 / FPS)
    decoder.end()
    done.wait(10)
    decoder.close()
    last = [1000 * (out_at[p] - fed_at[p]) for p in last_of_segment if p in out_at]
    last = last[:-1]  # the very last frame is flushed by end() in both modes
    other = [1000 * (out_at[p] - fed_at[p]) for p in fed_at if p not in last_of_segment]
    return {
        "last_frame_ms_p50": round(statistics.median(last), 2),
        "last_frame_ms_max": round(max(last), 2),
        "other_frames_ms_p50": round(statistics.median(other), 2),
        "frames_out": len(out_at),
        "frames_in": total,
        "errors": decoder.stats.errors,
        "muxer_restarts": decoder.stats.muxer_restarts,
    }


def throughput(segments: list[bytes], boundaries: bool, repeat: int) -> dict[str, float]:
    best_fps, best_feed = 0.0, float("inf")
    for _ in range(repeat):
        count = 0

        def on_video(frame: VideoFrame) -> None:
            nonlocal count
            count += 1

        decoder = StreamDecoder(on_video, threads=1)
        decoder.start()
        started = time.perf_counter()
        feed_cpu = 0.0
        for segment in segments:
            for i in range(0, len(segment), 16384):  # HTTP-sized chunks
                t = time.thread_time()
                decoder.feed(segment[i : i + 16384])
                feed_cpu += time.thread_time() - t
            if boundaries:
                decoder.end_segment()
        decoder.end()
        decoder.wait(60)
        elapsed = time.perf_counter() - started
        decoder.close()
        best_fps = max(best_fps, count / elapsed)
        best_feed = min(best_feed, feed_cpu)
    total_bytes = sum(len(s) for s in segments)
    return {
        "decode_fps": round(best_fps, 1),
        "feed_cpu_ms_per_MB": round(1000 * best_feed / (total_bytes / 1e6), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--frames", type=int, default=30, help="frames per segment (30 = 1 s)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    segments = make_segments(args.segments, args.frames, args.size)
    result: dict[str, Any] = {
        "clip": {
            "segments": args.segments,
            "frames": args.frames,
            "size": args.size,
            "bytes": sum(len(s) for s in segments),
        },  # fmt: skip
        "paced_with_end_segment": paced_latency(segments, True),
        "paced_without_end_segment": paced_latency(segments, False),
        "throughput_with_end_segment": throughput(segments, True, args.repeat),
        "throughput_without_end_segment": throughput(segments, False, args.repeat),
    }
    text = json.dumps(result, indent=2)
    sys.stdout.write(text + "\n")
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
