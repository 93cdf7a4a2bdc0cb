"""Per-frame cost of the frame ↔ IMAGE conversions TrickleInput / TrickleOutput make.

    .venv/bin/python benchmarks/convert.py [--sizes 512,1024] [--repeat 200] [--cold] [--ways]

Prints, for each size: frame → IMAGE (uint8 numpy → float32 tensor in 0..1), IMAGE → frame on
the CPU, and — where CUDA is available — the upload of the IMAGE to the GPU and IMAGE → frame from
a GPU tensor (scale and cast on the device, copy back the uint8 picture), in ms per frame
(median and p95 over ``--repeat`` runs after 10 warm-ups).

``--cold`` times each call as a live stream makes it: on one of 16 different pictures, with the
caches emptied before it (64 MB read, outside the timing) — in a 30 fps stream the decoder's
picture and the worker's buffers are out of the caches again by the next frame, while back to
back calls on one picture find everything cached.

``--ways`` adds the other ways of making the float32 picture that were tried against the shipped
one (``astype`` then an in-place multiply), numpy only, each on the same pictures, and the bound
they all share: writing the picture's 3 × H × W float32 values (``fill``). Each gives the same
values as the shipped way (``tests/benchmarks/test_convert_ways.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import mmap
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


SCALE = np.float32(1.0 / 255.0)
CHUNK_ROWS = 64  # 64 rows of 512: 384 KiB of float32, inside one core's 512 KiB L2 here


def shipped(picture: np.ndarray) -> np.ndarray:
    """The numpy part of ``frame_to_image``: a new array, then scaled in place."""
    values = picture.astype(np.float32)
    values *= SCALE
    return values


def fused(picture: np.ndarray) -> np.ndarray:
    """One ufunc call that casts and scales (numpy's buffered casting loop)."""
    return np.multiply(picture, SCALE, dtype=np.float32)


def chunked(picture: np.ndarray) -> np.ndarray:
    """Cast then scale ``CHUNK_ROWS`` rows at a time, so the second pass finds them cached."""
    out = np.empty(picture.shape, np.float32)
    for row in range(0, picture.shape[0], CHUNK_ROWS):
        part = out[row : row + CHUNK_ROWS]
        np.copyto(part, picture[row : row + CHUNK_ROWS])
        part *= SCALE
    return out


class Reused:
    """Into one of two buffers used in turn (a pool; ``huge``: backed by transparent huge
    pages where the kernel offers them)."""

    def __init__(self, shape: tuple[int, ...], huge: bool = False) -> None:
        self.buffers = [self._buffer(shape, huge) for _ in range(2)]
        self.turn = itertools.cycle(self.buffers)

    @staticmethod
    def _buffer(shape: tuple[int, ...], huge: bool) -> np.ndarray:
        if not huge:
            return np.zeros(shape, np.float32)
        count = int(np.prod(shape))
        area = mmap.mmap(-1, max(count * 4, 4 << 20))
        if hasattr(mmap, "MADV_HUGEPAGE"):
            area.madvise(mmap.MADV_HUGEPAGE)
        values = np.frombuffer(area, dtype=np.float32, count=count).reshape(shape)
        values.fill(0)
        return values

    def __call__(self, picture: np.ndarray) -> np.ndarray:
        out = next(self.turn)
        np.copyto(out, picture)
        out *= SCALE
        return out


def ways(pictures: list[np.ndarray]) -> list[tuple[str, Callable[[], object]]]:
    """``--ways``: the bound, then each way of making the float32 picture."""
    shape = pictures[0].shape
    bound = np.zeros(shape, np.float32)  # (the caches are emptied before each call all the same)
    return [
        ("write float32 (fill): the bound", partial(bound.fill, 0.5)),
        ("astype + multiply (shipped)", each(shipped, pictures)),
        ("one multiply, dtype=float32", each(fused, pictures)),
        (f"in chunks of {CHUNK_ROWS} rows", each(chunked, pictures)),
        ("into reused buffers", each(Reused(shape), pictures)),
        ("into reused huge-page buffers", each(Reused(shape, huge=True), pictures)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument(
        "--cold", action="store_true", help="16 pictures in turn, caches emptied before each call"
    )
    parser.add_argument(
        "--ways", action="store_true", help="also the other ways of frame -> IMAGE (numpy)"
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
        if args.ways:
            rows += [(f"  {name}", fn, False) for name, fn in ways(pictures)]
        for name, fn, sync in rows:
            p50, p95 = _time(fn, args.repeat, sync, empty_caches if args.cold else None)
            sys.stdout.write(f"{size:>4}x{size:<4} {name:<34} {p50:8.3f} {p95:8.3f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
