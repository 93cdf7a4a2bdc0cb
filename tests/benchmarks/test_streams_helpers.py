"""The pure helpers of benchmarks/streams.py that decide its verdicts: the floor's arithmetic
limit, whether a level of n streams is sustained, and which of a level's tries is reported."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from streams import (  # noqa: E402
    Level,
    arithmetic_limit,
    best,
    combine,
    sustained_streams,
    worker_split,
    worker_totals,
)


def level(out: list[int], p95: list[float], cpu: float = 5.0, expected: int = 180) -> Level:
    return Level(len(out), expected, out, p95, cpu, 0.1, 0.0, (0.0, 0.0, 0.0))


def test_arithmetic_limit_is_cores_times_1000_over_fps_times_floor_ms() -> None:
    assert arithmetic_limit(2, 5.0, 30.0) == pytest.approx(2000 / 150)
    assert arithmetic_limit(16, 4.0, 30.0) == pytest.approx(16000 / 120)


def test_a_level_is_sustained_only_with_every_frame_of_every_stream_and_p95_in_bounds() -> None:
    assert level([180, 180], [40.0, 99.9]).sustained(100.0)
    one_lost = level([180, 179], [40.0, 41.0])
    assert one_lost.lost == 1 and not one_lost.sustained(100.0)
    slow = level([180, 180], [40.0, 100.1])
    assert slow.worst_p95 == 100.1 and not slow.sustained(100.0)


def test_best_try_prefers_a_sustained_one_then_the_cheapest() -> None:
    lost = level([170], [30.0], cpu=4.0)
    ok_dear, ok_cheap = level([180], [50.0], cpu=6.0), level([180], [60.0], cpu=5.5)
    assert best([lost, ok_dear, ok_cheap], 100.0) is ok_cheap
    worse = level([160], [30.0])
    assert best([worse, lost], 100.0) is lost  # none sustained: the fewest frames lost


def test_streams_sustained_stop_at_the_first_level_that_was_not() -> None:
    rows = [
        {"streams": n, "sustained": ok} for n, ok in ((1, True), (2, True), (3, False), (4, True))
    ]
    assert sustained_streams(rows) == 2
    assert sustained_streams([{"streams": 1, "sustained": False}]) == 0


def test_rounds_combine_to_the_worst_verdict_and_the_median_cpu() -> None:
    cheap, dear, mid = (
        level([180], [40.0], cpu=5.0),
        level([180], [45.0], cpu=9.0),
        level([180], [50.0], cpu=6.0),
    )
    both = combine([dear, cheap, mid])
    assert both.cpu_ms_per_frame == 6.0 and both.sustained(100.0) and both.worst_p95 == 50.0
    one_lost = level([179], [30.0], cpu=4.0)
    lost = combine([cheap, one_lost, mid])
    assert lost.lost == 1 and not lost.sustained(100.0)  # every round must be sustained
    assert lost.cpu_ms_per_frame == 5.0
    slow = combine([cheap, level([180], [130.0], cpu=5.5)])
    assert not slow.sustained(100.0) and slow.cpu_ms_per_frame == 5.25


def test_comfyuis_worker_split_is_the_difference_between_two_status_reads() -> None:
    # (live frames, worker CPU s, conversion CPU s) as /trickle/status totals them
    assert worker_split((100, 0.08, 0.05), (400, 0.32, 0.17)) == pytest.approx((0.8, 0.4))
    assert worker_split(None, (400, 0.32, 0.17)) == (None, None)  # not a ComfyUI
    assert worker_split((400, 0.32, 0.17), (400, 0.32, 0.17)) == (None, None)  # no frame ran
    rounds = [level([180], [40.0]) for _ in range(3)]
    for lv, (worker, conversion) in zip(rounds, ((0.9, 0.5), (0.7, 0.4), (0.8, 0.45)), strict=True):
        lv.worker_ms, lv.conversion_ms = worker, conversion
    both = combine(rounds)
    assert (both.worker_ms, both.conversion_ms) == (0.8, 0.45)  # the rounds' medians
    assert combine([level([180], [40.0])]).worker_ms is None  # the floor, the runner


async def test_worker_totals_read_comfyuis_status_and_nothing_else() -> None:
    answers: dict[str, Any] = {
        "comfy": {"comfyui": {"private_executor": {"frames": 300, "cpu_ms_per_frame": 0.7,
                   "worker_cpu_ms_per_frame": 0.8, "conversion_ms_per_frame": 0.4}}},
        "fresh": {"comfyui": {"private_executor": None}},  # before its first stream
        "runner": {"streams": []},
    }  # fmt: skip

    async def status(request: web.Request) -> web.Response:
        who = request.match_info["who"]
        return web.json_response(answers[who]) if who in answers else web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{who}/trickle/status", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:

            async def totals(who: str) -> Any:
                system = SimpleNamespace(url=f"http://127.0.0.1:{port}/{who}")
                return await worker_totals(system, http)  # type: ignore[arg-type]

            assert await totals("comfy") == pytest.approx((300, 0.24, 0.12))
            assert await totals("fresh") == (0, 0.0, 0.0)  # so the first level has a split
            assert await totals("runner") is None
            assert await totals("floor") is None  # 404: no status at all
    finally:
        await runner.cleanup()
