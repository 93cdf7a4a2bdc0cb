"""CPU per frame of a stream's conversions and encoder with their thread settings.

    .venv/bin/python benchmarks/threads.py [--sizes 512,1280x720,1920x1080] [--seconds 3]
        [--rounds 3]

For each size, on the frames of a generated clip, interleaved frame by frame so that each setting
meets the same machine:

- swscale, YUV 4:2:0 → RGB24 (the decoder's) and RGB24 → YUV 4:2:0 (the encoder's): PyAV's
  default (on PyAV >= 17, a pool of one thread per core) against ``scaler.Scaler`` (the calling
  thread);
- the H.264 encoder (``VideoEncoder``: the session's options, RGB24 in, so the ``Scaler``'s
  RGB24 → YUV conversion is included): the codec's own thread count (0) against one thread,
  and which of the two a stream uses at that size when its runner serves several streams
  (``codecs.encoder_threads``; a runner of capacity 1 leaves its one stream the codec's threads).

Figures are process CPU (all threads, ``time.process_time``) per frame, median and mean over
``--rounds`` passes, and the wall time per frame (what a stream must fit in 1 / fps). The
conversions are timed call by call; each encoder setting over a whole pass of the clip, the
settings in turn (its codec threads may still work after a call returns), so its CPU median and
mean are over the passes. Whether the swscale settings give the same bytes is printed too.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trickle.media.codecs import encoder_threads  # noqa: E402
from trickle.media.scaler import Scaler  # noqa: E402
from trickle.media.testclip import make_test_clip  # noqa: E402
from trickle.media.video_out import VideoEncoder  # noqa: E402


def parse_size(text: str) -> tuple[int, int]:
    """``512`` → (512, 512); ``1280x720`` → (1280, 720); both even and at least 16."""
    width, _, height = text.lower().partition("x")
    try:
        size = (int(width), int(height or width))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size: expected WIDTH or WIDTHxHEIGHT, received {text!r}"
        ) from None
    if min(size) < 16 or size[0] % 2 or size[1] % 2:
        raise argparse.ArgumentTypeError(f"size: expected even sides >= 16, received {text!r}")
    return size


def clip_frames(width: int, height: int, seconds: float) -> list[av.VideoFrame]:
    clip = make_test_clip(seconds, width, height, 30)
    with av.open(io.BytesIO(clip)) as container:
        return list(container.decode(video=0))


def _timed(ways: dict[str, Callable[[int], Any]], count: int, rounds: int) -> dict[str, list]:
    """Each way on frame 0..count-1, interleaved; (process CPU s, wall s) per call."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(rounds):
        for index in range(count):
            for name, way in ways.items():
                cpu, wall = time.process_time(), time.perf_counter()
                way(index)
                samples[name].append((time.process_time() - cpu, time.perf_counter() - wall))
    return samples


def scaler_rows(frames: list[av.VideoFrame], rounds: int) -> list[dict[str, Any]]:
    rgb = [Scaler().reformat(f, format="rgb24").to_ndarray() for f in frames]
    default_in, default_out = VideoReformatter(), VideoReformatter()
    ours_in, ours_out = Scaler(), Scaler()

    def to_yuv(reformatter: Any) -> Callable[[int], Any]:
        return lambda i: reformatter.reformat(
            av.VideoFrame.from_ndarray(rgb[i], format="rgb24"), format="yuv420p"
        )

    ways = {
        "YUV→RGB24 PyAV default": lambda i: default_in.reformat(frames[i], format="rgb24"),
        "YUV→RGB24 Scaler": lambda i: ours_in.reformat(frames[i], format="rgb24"),
        "RGB24→YUV PyAV default": to_yuv(default_out),
        "RGB24→YUV Scaler": to_yuv(ours_out),
    }
    for name in list(ways):  # the first call of each opens its swscale context: not timed
        ways[name](0)
    samples = _timed(ways, len(frames), rounds)
    same_in = all(
        np.array_equal(
            VideoReformatter().reformat(f, format="rgb24").to_ndarray(),
            Scaler().reformat(f, format="rgb24").to_ndarray(),
        )
        for f in frames[:5]
    )
    same_out = all(
        np.array_equal(to_yuv(VideoReformatter())(i).to_ndarray(), to_yuv(Scaler())(i).to_ndarray())
        for i in range(min(5, len(frames)))
    )
    rows = []
    for name, values in samples.items():
        same = same_in if name.startswith("YUV") else same_out
        rows.append({"stage": name, **_summary(values), "same_bytes": same})
    return rows


def encoder_rows(frames: list[av.VideoFrame], rounds: int) -> list[dict[str, Any]]:
    """Each setting encodes the whole clip in turn (an encoder's threads may still be busy after
    a call returns, so its CPU is taken over a whole pass, not per call)."""
    width, height = frames[0].width, frames[0].height
    rgb = [f.to_ndarray(format="rgb24") for f in frames]
    chosen = encoder_threads(width, height)
    threads = {"RGB24→H.264, codec's threads (0)": 0, "RGB24→H.264, one thread (1)": 1}
    passes: dict[str, list[tuple[float, float]]] = {name: [] for name in threads}
    for _ in range(rounds):
        for name, count in threads.items():
            encoder = VideoEncoder(threads=count)
            for i in range(min(10, len(rgb))):  # opening and the first frames: not timed
                encoder.encode(rgb[i], i * 3000)
            walls = []
            cpu = time.process_time()
            for i in range(len(rgb)):
                wall = time.perf_counter()
                encoder.encode(rgb[i], (i + 10) * 3000)
                walls.append(time.perf_counter() - wall)
            encoder.flush()
            per_frame = (time.process_time() - cpu) / len(rgb)
            passes[name] += [(per_frame, w) for w in walls]
    return [
        {"stage": name, **_summary(passes[name]), "chosen": threads[name] == chosen}
        for name in threads
    ]


def _summary(values: list[tuple[float, float]]) -> dict[str, float]:
    cpu = [c * 1e3 for c, _ in values]
    wall = [w * 1e3 for _, w in values]
    return {
        "cpu_ms_p50": statistics.median(cpu),
        "cpu_ms_mean": statistics.fmean(cpu),
        "wall_ms_mean": statistics.fmean(wall),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1280x720,1920x1080", help="comma-separated")
    parser.add_argument("--seconds", type=float, default=3.0, help="clip length per size")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the clip")
    args = parser.parse_args(argv)
    try:
        sizes = [parse_size(s) for s in args.sizes.split(",")]
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.rounds < 1 or args.seconds <= 0:
        parser.error(f"--rounds >= 1 and --seconds > 0, received {args.rounds}, {args.seconds}")
    print(
        f"machine: {os.cpu_count()} cores; PyAV {av.__version__}; process CPU ms per frame "
        f"(all threads), {args.rounds} pass(es) over {args.seconds:g} s at 30 fps"
    )
    for width, height in sizes:
        frames = clip_frames(width, height, args.seconds)
        print(f"\n{width}x{height} ({len(frames)} frames); encoder threads with several streams: "
              f"{encoder_threads(width, height)}")  # fmt: skip
        print(f"{'stage':34} {'CPU p50':>8} {'CPU mean':>9} {'wall mean':>10}")
        for row in scaler_rows(frames, args.rounds) + encoder_rows(frames, args.rounds):
            note = ""
            if "same_bytes" in row:
                note = "same bytes" if row["same_bytes"] else "DIFFERENT BYTES"
            elif row.get("chosen"):
                note = "several streams' choice"
            line = (f"{row['stage']:34} {row['cpu_ms_p50']:8.3f} {row['cpu_ms_mean']:9.3f} "
                    f"{row['wall_ms_mean']:10.3f}  {note}")  # fmt: skip
            print(line.rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
