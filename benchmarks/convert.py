"""Per-frame cost of the frame ↔ IMAGE conversions TrickleInput / TrickleOutput make.

    .venv/bin/python benchmarks/convert.py [--sizes 512,1024] [--repeat 200] [--cold]

Prints, for each size: frame → IMAGE (uint8 numpy → float32 tensor in 0..1), IMAGE → frame on
the CPU, and — where CUDA is available — the upload of the IMAGE to the GPU and IMAGE → frame from
a GPU tensor (scale and cast on the device, copy back the uint8 picture), in ms per frame
(median and p95 over ``--repeat`` runs after 10 warm-ups).

``--cold`` times each call as a live stream makes it: on one of 16 different pictures, with the
caches emptied before it (64 MB read, outside the timing) — in a 30 fps stream the decoder's
picture and the worker's buffers are out of the caches again by the next frame, while back to
back calls on one picture find everything cached.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _load_convert():  # the pack is a ComfyUI custom node: load nodes/convert.py by path
    spec = importlib.util.spec_from_file_location("trickle_convert", ROOT / "nodes" / "convert.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _time(
    fn: Callable[[], object], repeat: int, sync: bool, before: Callable[[], object] | None = None
) -> tuple[float, float]:
    for _ in range(10):
        fn()
    samples = []
    for _ in range(repeat):
        if before is not None:
            before()
        if sync:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def each(fn: Callable[[Any], object], items: list[Any]) -> Callable[[], object]:
    """``fn`` on the items in turn, one per call."""
    turn = itertools.cycle(items)
    return lambda: fn(next(turn))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument(
        "--cold", action="store_true", help="16 pictures in turn, caches emptied before each call"
    )
    args = parser.parse_args(argv)
    evict = np.ones(64 * 1024 * 1024 // 8) if args.cold else None

    def empty_caches() -> None:
        if evict is not None:
            evict.sum()

    convert = _load_convert()
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else "none"
    sys.stdout.write(
        f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, GPU {device}, "
        f"caches {'emptied before each call (--cold)' if args.cold else 'warm (back to back)'}\n"
    )
    sys.stdout.write(f"{'size':>9} {'step':<34} {'p50 ms':>8} {'p95 ms':>8}\n")
    for size in (int(s) for s in args.sizes.split(",")):
        rng = np.random.default_rng(0)
        pictures = [
            rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            for _ in range(16 if args.cold else 1)
        ]
        images = [convert.frame_to_image(p) for p in pictures]
        image = images[0]
        rows: list[tuple[str, Callable[[], object], bool]] = [
            ("frame -> IMAGE (CPU)", each(convert.frame_to_image, pictures), False),
            ("IMAGE -> frame (CPU)", each(convert.image_to_frame, images), False),
        ]
        if cuda:
            gpu_image = image.cuda()
            rows += [
                ("IMAGE upload to GPU", partial(image.cuda), True),
                ("IMAGE -> frame (from GPU)", partial(convert.image_to_frame, gpu_image), True),
            ]
        for name, fn, sync in rows:
            p50, p95 = _time(fn, args.repeat, sync, empty_caches if args.cold else None)
            sys.stdout.write(f"{size:>4}x{size:<4} {name:<34} {p50:8.3f} {p95:8.3f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
