"""Many streams (docs/performance.md#many-streams): how many concurrent 30 fps 512x512 streams
this machine sustains, and what one stream costs against the floor as streams are added.

Systems (each started by this program in its own process, driven as an orchestrator drives it,
through our loopback trickle server, like ``compare.py``):

- ``floor`` — ``_bare_trickle.py``: trickle I/O around PyAV alone (``_bare.BareTranscode``:
  decode, RGB and back, encode with the media layer's settings, none of its code);
- ``runner`` — ``python -m trickle runner --processor passthrough`` (no ComfyUI);
- ``trickle-live`` — a stock ComfyUI at ``$COMFYUI_PATH`` with this pack, passthrough workflow.

For n = 1, 2, 3, … each system gets n streams at once, each publishing the generated clip
(video PES without length, as a gateway's FFmpeg writes them) in real time, the streams' frame
clocks spread over one frame interval. Per level: every stream's frames out, added latency p95
(the worst stream's), and the process's CPU per frame per stream (all its threads, over the
measured part, divided by all frames out). A level is *sustained* when no frame of any stream
is lost and the worst stream's p95 is at most ``--p95-ms`` (100). A system's sweep stops at its
first level not sustained in any of ``--repeat`` tries (the floor's goes on as long as another
system's does, for the per-stream ratio at every n; its own verdict is printed all the same).
With ``--rounds R`` each level is measured R times per system, interleaved (the systems' order
turned each round): a level is sustained only if every round was, and its CPU per frame is the
rounds' median — on a 2-core box one 6 s window of the same system reads 8.8–12.1 ms.

Printed beside it: the floor's arithmetic limit, cores × 1000 / (fps × the floor's CPU ms per
frame at one stream), and each system's per-stream ratio to the floor at the same n. The harness
(trickle server, publishers, recorders) runs in this program, on the same cores: its CPU and
the CPU of every other process on the machine are printed per level ("harness", "others"), so a
level lost to a neighbour shows as such.

Run from the repository root (keep it short on a shared machine; ``nice`` the neighbours):
    COMFYUI_PATH=/opt/comfyui .venv/bin/python benchmarks/streams.py [--max-streams 8]
        [--systems floor,runner,trickle-live] [--seconds 6] [--repeat 2] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from _feed import (  # noqa: E402
    ClipLayout,
    FeedLog,
    OutputLog,
    latency_ms,
    measured,
    output_frames,
    pct,
    publish,
    record,
)
from _proc import ProcSampler, cpu_seconds, load_average  # noqa: E402
from _systems import BareTrickleSystem, ComfySystem, RunnerSystem, System  # noqa: E402
from compare import machine  # noqa: E402

from trickle.media.testclip import make_test_clip  # noqa: E402
from trickle.runner.simulator import LocalOrchestrator  # noqa: E402

KNOWN = ("floor", "runner", "trickle-live")
SETTLE_S = 2.0  # no new output on any stream for this long after the inputs ended: done
_TICK = os.sysconf("SC_CLK_TCK")


def arithmetic_limit(cores: int, floor_ms: float, fps: float) -> float:
    """Streams the cores could carry at the floor's cost: cores × 1000 / (fps × floor ms)."""
    return cores * 1000.0 / (fps * floor_ms) if floor_ms > 0 else float("nan")


@dataclass
class Level:
    """One try of n concurrent streams through one system."""

    streams: int
    frames_expected: int  # per stream
    frames_out: list[int]  # per stream, measured part
    p95_ms: list[float]  # per stream
    cpu_ms_per_frame: float  # the system's process, per frame of one stream
    harness_cores: float  # this program's CPU over the measured part, in cores
    other_cores: float  # every other process on the machine, in cores
    load: tuple[float, float, float]
    # ComfyUI only (``/trickle/status``): its worker thread's CPU per frame over the level, and of
    # it the frame <-> IMAGE conversions
    worker_ms: float | None = None
    conversion_ms: float | None = None

    @property
    def lost(self) -> int:
        return sum(self.frames_expected - n for n in self.frames_out)

    @property
    def worst_p95(self) -> float:
        return max(self.p95_ms, default=float("nan"))

    def sustained(self, p95_limit: float) -> bool:
        return self.lost == 0 and self.worst_p95 <= p95_limit


def best(tries: list[Level], p95_limit: float) -> Level:
    """The try that shows what the system can do: a sustained one if any (lowest CPU among
    them), else the one with the fewest frames lost. Other load only ever makes a try worse."""
    ok = [t for t in tries if t.sustained(p95_limit)]
    if ok:
        return min(ok, key=lambda t: t.cpu_ms_per_frame)
    return min(tries, key=lambda t: (t.lost, t.worst_p95))


def combine(rounds: list[Level]) -> Level:
    """A level measured in several interleaved rounds: its verdict is the worst round's (every
    round must be sustained), its CPU per frame (and harness, others) the rounds' median, so one
    round that a neighbour or x264's thread timing made dear does not decide the ratio."""
    worst = max(rounds, key=lambda t: (t.lost, t.worst_p95))
    return replace(
        worst,
        cpu_ms_per_frame=statistics.median(t.cpu_ms_per_frame for t in rounds),
        harness_cores=statistics.median(t.harness_cores for t in rounds),
        other_cores=statistics.median(t.other_cores for t in rounds),
        worker_ms=_median_of([t.worker_ms for t in rounds]),
        conversion_ms=_median_of([t.conversion_ms for t in rounds]),
    )


def _median_of(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


async def worker_totals(
    system: System, http: aiohttp.ClientSession
) -> tuple[int, float, float] | None:
    """ComfyUI's worker so far (``/trickle/status`` → ``comfyui.private_executor``): live frames,
    the worker thread's CPU seconds over its leases, and the conversions' seconds (all 0 before
    its first stream); None for a system that is not a ComfyUI."""
    try:
        async with http.get(system.url + "/trickle/status") as resp:
            body = await resp.json() if resp.status == 200 else {}
    except (aiohttp.ClientError, ValueError):
        return None
    comfy = body.get("comfyui")
    if not isinstance(comfy, dict):
        return None  # not a ComfyUI
    private = comfy.get("private_executor") or {}  # None until its first stream: nothing yet
    frames = private.get("frames", 0)
    if not isinstance(frames, int):
        return None
    worker = private.get("worker_cpu_ms_per_frame") or 0.0
    conversion = private.get("conversion_ms_per_frame") or 0.0
    return frames, worker * frames / 1e3, conversion * frames / 1e3


def worker_split(
    before: tuple[int, float, float] | None, after: tuple[int, float, float] | None
) -> tuple[float | None, float | None]:
    """(worker ms per frame, conversion ms per frame) between two ``worker_totals``."""
    if before is None or after is None or after[0] <= before[0]:
        return None, None
    frames = after[0] - before[0]
    return 1e3 * (after[1] - before[1]) / frames, 1e3 * (after[2] - before[2]) / frames


def _busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy so far (``/proc/stat``)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICK


async def _settle(outs: list[OutputLog]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        last = max((o.times[-1] for o in outs if o.times), default=0.0)
        if time.monotonic() - last > SETTLE_S:
            return
        await asyncio.sleep(0.2)


async def _publish_at(delay: float, channel: str, layout: ClipLayout, fps: float,
                      warm: int, feed: FeedLog) -> None:  # fmt: skip
    await asyncio.sleep(delay)
    await publish(channel, layout, fps, warm_frames=warm, fast=False, log=feed)


async def run_level(
    system: System,
    orch: LocalOrchestrator,
    http: aiohttp.ClientSession,
    layout: ClipLayout,
    n: int,
    fps: float,
    warm: int,
) -> Level:
    channels = [orch.create_channels() for _ in range(n)]
    outs = [OutputLog() for _ in range(n)]
    feeds = [FeedLog() for _ in range(n)]
    stop = asyncio.Event()
    recorders = [
        asyncio.create_task(record(c.output, o, stop)) for c, o in zip(channels, outs, strict=True)
    ]
    sampler = ProcSampler(system.pid, interval=0.1)
    sampler.start()
    worker_before = await worker_totals(system, http)
    try:
        for c in channels:
            status, body, _ = await orch.start_stream(system.url, c)
            if status != 200:
                raise RuntimeError(f"{system.name}: start answered {status} {body}")
        publishers = [
            _publish_at(i / (n * fps), c.input, layout, fps, warm, f)
            for i, (c, f) in enumerate(zip(channels, feeds, strict=True))
        ]
        measuring = asyncio.create_task(_marks(feeds))
        await asyncio.gather(*publishers)
        await _settle(outs)
        t0, busy0, own0 = await measuring
        t1, busy1, own1 = time.monotonic(), _busy_seconds(), cpu_seconds(os.getpid())
        worker_ms, conversion_ms = worker_split(worker_before, await worker_totals(system, http))
    finally:
        stop.set()
        for c in channels:
            orch.close_channels(c)
        await asyncio.wait(recorders, timeout=10)
        for task in recorders:
            task.cancel()
        await sampler.stop()
    frames = [output_frames(o) for o in outs]
    kept = [measured(f, fr) for f, fr in zip(feeds, frames, strict=True)]
    first = min(f.measure_started or t0 for f in feeds)
    last = max((max(k) for k in kept if k), default=first)
    total = sum(len(k) for k in kept)
    system_cpu = sampler.cpu_between(first, last)
    span = max(1e-9, t1 - t0)
    harness = (own1 - own0) / span
    system_share = (sampler.cpu_between(t0, t1)) / span
    level = Level(
        streams=n,
        frames_expected=layout.frames - warm,
        frames_out=[len(k) for k in kept],
        p95_ms=[
            pct(latency_ms(f, fr, warm, layout.frames), 0.95)
            for f, fr in zip(feeds, frames, strict=True)
        ],
        cpu_ms_per_frame=system_cpu * 1e3 / max(1, total),
        harness_cores=harness,
        other_cores=max(0.0, (busy1 - busy0) / span - harness - system_share),
        load=load_average(),
        worker_ms=worker_ms,
        conversion_ms=conversion_ms,
    )
    await _wait_idle(system, http)
    return level


async def _marks(feeds: list[FeedLog]) -> tuple[float, float, float]:
    """When the last stream's measured part begins: time, machine busy CPU, this program's CPU."""
    while any(f.measure_started is None for f in feeds):
        await asyncio.sleep(0.02)
    return time.monotonic(), _busy_seconds(), cpu_seconds(os.getpid())


async def _wait_idle(system: System, http: aiohttp.ClientSession, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await system.health(http) == "IDLE":
            return
        await asyncio.sleep(0.25)
    raise RuntimeError(f"{system.name} did not go back to IDLE within {timeout:g} s")


def _make(name: str) -> System | None:
    if name == "floor":
        return BareTrickleSystem()
    if name == "runner":
        return RunnerSystem()
    path = os.environ.get("COMFYUI_PATH")
    if not path or not (Path(path) / "main.py").is_file():
        _say("trickle-live skipped: set COMFYUI_PATH to a ComfyUI checkout with its venv")
        return None
    return ComfySystem(Path(path))


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _line(name: str, level: Level, tries: int, floor_ms: float | None, p95: float) -> str:
    ratio = f"{level.cpu_ms_per_frame / floor_ms:.2f}" if floor_ms else "–"
    verdict = "sustained" if level.sustained(p95) else "NOT sustained"
    worker = "–"
    if level.worker_ms is not None:
        worker = f"{level.worker_ms:.2f} ({level.conversion_ms or 0.0:.2f})"
    return (
        f"| {name} | {level.streams} | {verdict} | {level.lost} | {level.worst_p95:.1f} | "
        f"{level.cpu_ms_per_frame:.2f} | {ratio} | {worker} | {level.harness_cores:.2f} | "
        f"{level.other_cores:.2f} | {level.load[0]:.2f} | {tries} |"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(names) - set(KNOWN))
    if unknown:
        raise SystemExit(f"--systems: expected some of {','.join(KNOWN)}, received {unknown}")
    os.environ["TRICKLE_CAPACITY"] = str(args.max_streams)  # the runner and ComfyUI read it
    warm = round(args.warm * args.fps)
    clip = make_test_clip(args.warm + args.seconds, args.size, args.size, args.fps)
    layout = ClipLayout.of(clip)
    systems = [s for s in (_make(n) for n in KNOWN if n in names) if s]
    report: dict[str, Any] = {"machine": machine(), "load_before": load_average(), "levels": {}}
    orch = LocalOrchestrator()
    await orch.start()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    going = {s.name for s in systems}
    floor_at: dict[int, float] = {}
    failed: set[str] = set()
    try:
        for system in systems:
            _say(f"{system.name}: booting")
            await system.boot(http)  # type: ignore[attr-defined]
        for n in range(1, args.max_streams + 1):
            rounds: dict[str, list[Level]] = {}
            tried: dict[str, int] = {}
            for r in range(args.rounds):
                # interleaved per level and the order turned each round: the load drifts
                turn = systems[r % len(systems) :] + systems[: r % len(systems)]
                for system in turn:
                    if system.name not in going:
                        continue
                    tries: list[Level] = []
                    again = system.name != "floor" or system.name not in failed
                    for k in range(args.repeat if again else 1):
                        _say(f"{system.name}: {n} stream(s), round {r + 1}, try {k + 1}")
                        tries.append(await run_level(system, orch, http, layout, n, args.fps, warm))
                        if tries[-1].sustained(args.p95_ms):
                            break
                    rounds.setdefault(system.name, []).append(best(tries, args.p95_ms))
                    tried[system.name] = tried.get(system.name, 0) + len(tries)
            for system in systems:
                if system.name not in rounds:
                    continue
                level = combine(rounds[system.name])
                report["levels"].setdefault(system.name, []).append(
                    {
                        **level.__dict__,
                        "tries": tried[system.name],
                        "cpu_ms_per_frame_rounds": [
                            t.cpu_ms_per_frame for t in rounds[system.name]
                        ],
                        "sustained": level.sustained(args.p95_ms),
                    }
                )
                if system.name == "floor":
                    floor_at[n] = level.cpu_ms_per_frame
                line = _line(system.name, level, tried[system.name], floor_at.get(n), args.p95_ms)
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
                if not level.sustained(args.p95_ms):
                    going.discard(system.name)
                    failed.add(system.name)
            others = going - {"floor"}
            if not others and not (going and len(systems) == 1):
                break  # the floor alone goes on only when it is the only system asked for
            if others and "floor" in names:
                going.add("floor")  # its CPU per stream at every n the others reach
    finally:
        await http.close()
        await orch.close()
        for system in systems:
            system.stop()
    report["load_after"] = load_average()
    return report


def sustained_streams(rows: list[dict[str, Any]]) -> int:
    """The highest n such that every level 1…n was sustained (a later lucky level does not
    count past a failed one)."""
    n = 0
    for row in sorted(rows, key=lambda r: r["streams"]):
        if not row["sustained"] or row["streams"] != n + 1:
            break
        n += 1
    return n


def summary(report: dict[str, Any], fps: float, p95: float) -> list[str]:
    levels: dict[str, list[dict[str, Any]]] = report["levels"]
    cores = int(report["machine"]["nproc"] or 1)
    lines = []
    floor1 = next((lv["cpu_ms_per_frame"] for lv in levels.get("floor", []) if lv["streams"] == 1),
                  None)  # fmt: skip
    if floor1:
        lines.append(
            f"floor at one stream: {floor1:.2f} ms CPU per frame → arithmetic limit "
            f"{cores} × 1000 / ({fps:g} × {floor1:.2f}) = {arithmetic_limit(cores, floor1, fps):.1f}"
            " streams"
        )
    floor_by_n = {lv["streams"]: lv["cpu_ms_per_frame"] for lv in levels.get("floor", [])}
    for name, rows in levels.items():
        sustained = sustained_streams(rows)
        per = ", ".join(f"{lv['cpu_ms_per_frame']:.2f}" for lv in rows)
        ratios = [
            lv["cpu_ms_per_frame"] / floor_by_n[lv["streams"]]
            for lv in rows
            if lv["streams"] in floor_by_n
        ]
        ratio = f"; per-stream CPU / floor at 1…n: {', '.join(f'{r:.2f}' for r in ratios)}"
        workers = [lv for lv in rows if lv.get("worker_ms") is not None]
        worker = ""
        if workers:
            split = ", ".join(
                f"{lv['worker_ms']:.2f} ({lv['conversion_ms']:.2f})" for lv in workers
            )
            worker = f"; ComfyUI's worker ms per frame (of it conversions) at 1…n: {split}"
        lines.append(
            f"{name}: sustains {sustained} stream(s) (no frame lost, p95 ≤ {p95:g} ms); "
            f"CPU ms per frame per stream at 1…n: {per}"
            + (ratio if name != "floor" else "")
            + worker
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=",".join(KNOWN), help="comma-separated subset")
    parser.add_argument("--max-streams", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=6.0, help="measured part per level")
    parser.add_argument("--warm", type=float, default=2.0, help="warm-up per level (s)")
    parser.add_argument("--repeat", type=int, default=2, help="tries of a level before giving up")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure each level this many times per system, interleaved; CPU = the median",
    )
    parser.add_argument("--p95-ms", type=float, default=100.0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--json", help="write every level's figures to this file")
    args = parser.parse_args()
    m = machine()
    sys.stdout.write(
        f"machine: {m['nproc']} cores, {m['cpu']}; load (1/5/15 min) before "
        f"{'/'.join(f'{x:.2f}' for x in load_average())}\n"
        f"clip: {args.size}x{args.size} {args.fps:g} fps H.264, warm-up {args.warm:g} s, "
        f"measured {args.seconds:g} s per level, {args.rounds} round(s) per level (CPU: median), "
        f"up to {args.repeat} tries per round\n"
        "| system | streams | verdict | frames lost | worst p95 (ms) | CPU ms / frame / stream "
        "| / floor | ComfyUI worker ms / frame (conversion) | harness (cores) | others (cores) "
        "| load 1 min | tries |\n"
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    report = asyncio.run(run(args))
    after = report["load_after"]
    lines = [f"load after: {'/'.join(f'{x:.2f}' for x in after)}",
             *summary(report, args.fps, args.p95_ms)]  # fmt: skip
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
