"""benchmarks/convert.py --ways compares like with like: every other way of making the float32
picture gives exactly the values the shipped ``frame_to_image`` gives."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from convert import CHUNK_ROWS, Reused, _load_convert, chunked, fused, shipped, ways  # noqa: E402


def test_every_way_gives_the_shipped_values() -> None:
    rng = np.random.default_rng(7)
    rows = CHUNK_ROWS * 2 + 5  # a last chunk that is not full
    pictures = [rng.integers(0, 256, (rows, 48, 3), dtype=np.uint8) for _ in range(3)]
    expected = [_load_convert().frame_to_image(p)[0].numpy() for p in pictures]
    reused, huge = Reused(pictures[0].shape), Reused(pictures[0].shape, huge=True)
    for picture, want in zip(pictures, expected, strict=True):
        for way in (shipped, fused, chunked, reused, huge):
            got = way(picture)
            assert got.dtype == np.float32 and got.shape == picture.shape
            assert np.array_equal(got, want), way
    assert reused(pictures[0]) is not reused(pictures[1])  # two buffers, used in turn
    names = [name for name, _ in ways(pictures)]
    assert names[0].endswith("the bound") and "astype + multiply (shipped)" in names
    for _, run in ways(pictures):
        run()
