"""Side by side on one clip (docs/performance.md): the bare transcode floor, trickle-live inside a real
ComfyUI, and pytrickle's StreamProcessor — throughput, added latency, CPU, memory.

One generated 512x512 30 fps H.264 clip (``trickle/media/testclip.py``, video PES without length,
as a gateway's FFmpeg writes them) is fed through our loopback trickle server
(``TrickleServer.serve`` via ``LocalOrchestrator``) to each system, started by this program in
its own process and driven as an orchestrator drives it (channels + ``POST /live-video-to-video``):

1. floor — ``_bare_trickle.py``: trickle subscribe → PyAV alone (``_bare.py``: decode → RGB →
   encode with the media layer's settings, none of its code) → trickle publish, nothing else;
2. trickle-live — a stock ComfyUI at ``$COMFYUI_PATH`` with this pack, passthrough workflow
   (skipped with a message when ``COMFYUI_PATH`` is unset);
3. pytrickle — ``StreamProcessor`` with an async passthrough function, in ``.venv-pytrickle``.

Context columns on request (``--systems``): ``runner`` — ``python -m trickle runner`` with its
built-in passthrough (our session without ComfyUI: what ComfyUI costs); ``transcode`` —
``transcode.bench_pipeline(bare=True)`` in one process, the clip from memory (no I/O at all).

Each runs a fast stream (warm-up paced, then the rest as fast as possible: throughput, CPU) and a
paced stream (30 fps: added latency per frame, CPU, memory; ``--long`` makes it 10 minutes for
the memory-growth figure). Figures are defined in ``_feed.py``; see docs/performance.md.

Run from the repository root:
    COMFYUI_PATH=/opt/comfyui .venv/bin/python benchmarks/compare.py [--long] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from _feed import ClipLayout  # noqa: E402
from _proc import ProcSampler, load_average  # noqa: E402
from _report import paired, plot, table, targets  # noqa: E402
from _systems import (  # noqa: E402
    PYTRICKLE_PYTHON,
    BareTrickleSystem,
    ComfySystem,
    PytrickleSystem,
    RunnerSystem,
    System,
    floor_result,
    run_floor,
)
from _trickle_run import run_stream  # noqa: E402

from trickle.media.testclip import make_test_clip  # noqa: E402
from trickle.runner.simulator import LocalOrchestrator  # noqa: E402

ALL = ("floor", "trickle-live", "pytrickle")
KNOWN = (*ALL, "runner", "transcode")


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version()}


async def transcode(args: argparse.Namespace, clips: dict[str, Path]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode, clip in (("fast", clips["fast"]), ("paced", clips["paced"])):
        process = run_floor(clip, args.fps, mode == "paced", threads=0)
        sampler = ProcSampler(process.pid)
        sampler.start()
        result = await asyncio.to_thread(floor_result, process)
        await sampler.stop()
        if mode == "fast":
            out.update(fps=result["fps"], cpu_ms_per_frame_fast=result["cpu_ms_per_frame"])
            out["dropped_fast"] = result["dropped"]
        else:
            out.update(
                latency_ms_p50=result["latency_ms_p50"],
                latency_ms_p95=result["latency_ms_p95"],
                cpu_ms_per_frame=result["cpu_ms_per_frame"],
                peak_rss_mb=sampler.peak_mb(),
                rss_growth_mb=sampler.growth_mb(args.warm),
            )
    return out


async def trickle_round(
    system: System,
    orch: LocalOrchestrator,
    http: aiohttp.ClientSession,
    args: argparse.Namespace,
    layouts: dict[str, ClipLayout],
    round_no: int,
) -> dict[str, Any]:
    """One fast and one paced stream through a booted system."""
    warm = round(args.warm * args.fps)
    editor = isinstance(system, ComfySystem)
    profile = None
    if args.profile and round_no == 0:
        profile = Path(args.profile) / f"{system.name}-fast.txt"
    fast = await run_stream(system, orch, http, layouts["fast"], args.fps,
                            warm_frames=warm, fast=True, profile=profile, lead=args.lead)  # fmt: skip
    paced = await run_stream(system, orch, http, layouts["paced"], args.fps,
                             warm_frames=warm, fast=False, editor=editor)  # fmt: skip
    out = {k: v for k, v in paced.items() if k != "latency_samples"}
    out.update(fps=fast["fps"], cpu_ms_per_frame_fast=fast["cpu_ms_per_frame"])
    out.update(dropped_fast=fast["dropped"], fast=fast, paced_frames_out=paced["frames_out"])
    out["peak_rss_mb"] = max(fast["peak_rss_mb"], paced["peak_rss_mb"])
    out["log_errors"] = fast["log_errors"] + paced["log_errors"]
    return out


HIGHER_BETTER = {"fps"}
BEST_OF = {"fps", "latency_ms_p50", "latency_ms_p95", "latency_ms_p99", "cpu_ms_per_frame",
           "cpu_ms_per_frame_fast"}  # fmt: skip


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Timing figures: the best run (other load on a shared box only ever slows a run down);
    memory and error figures: the worst run."""
    out = dict(runs[-1])
    for key in BEST_OF & set(out):
        values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        if values:
            out[key] = max(values) if key in HIGHER_BETTER else min(values)
    for key in ("peak_rss_mb", "log_errors", "dropped_fast"):
        if key in out:
            out[key] = max(r.get(key, 0) for r in runs)
    out["runs"] = len(runs)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    paced_s = 600.0 if args.long else args.seconds
    report: dict[str, Any] = {"machine": machine(), "load_before": load_average()}
    report["clip"] = {"size": args.size, "fps": args.fps, "warm_s": args.warm,
                      "fast_s": args.burst, "paced_s": paced_s, "pes_length": False}  # fmt: skip
    raw = {
        "fast": make_test_clip(args.warm + args.burst, args.size, args.size, args.fps),
        "paced": make_test_clip(args.warm + paced_s, args.size, args.size, args.fps),
    }
    layouts = {k: ClipLayout.of(v) for k, v in raw.items()}
    runs: dict[str, list[dict[str, Any]]] = {}
    unknown = sorted(set(names) - set(KNOWN))
    if unknown:
        raise SystemExit(f"--systems: expected some of {','.join(KNOWN)}, received {unknown}")
    order = ("floor", "trickle-live", "runner", "pytrickle")
    systems = [s for s in (_make(n) for n in order if n in names) if s]
    orch = LocalOrchestrator()
    await orch.start()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    try:
        for system in systems:
            _say(f"{system.name}: booting")
            await system.boot(http)  # type: ignore[attr-defined]
        with tempfile.TemporaryDirectory(prefix="bench-clips-") as tmp:
            clips = {k: Path(tmp) / f"{k}.ts" for k in raw}
            for key, path in clips.items():
                path.write_bytes(raw[key])
            for round_no in range(args.repeat):  # rounds interleave the systems: load drifts
                if "transcode" in names:
                    _say(f"round {round_no + 1}: bare transcode in process")
                    runs.setdefault("transcode", []).append(await transcode(args, clips))
                for system in systems:
                    _say(f"round {round_no + 1}: {system.name}, a fast and a paced stream")
                    result = await trickle_round(system, orch, http, args, layouts, round_no)
                    runs.setdefault(system.name, []).append(result)
    finally:
        await http.close()
        await orch.close()
        for system in systems:
            system.stop()
    report["figures"] = {name: best_of(r) for name, r in runs.items()}
    report["runs"] = runs
    report["load_after"] = load_average()
    return report


def _make(name: str) -> System | None:
    if name == "trickle-live":
        path = os.environ.get("COMFYUI_PATH")
        if not path or not (Path(path) / "main.py").is_file():
            _say("trickle-live skipped: set COMFYUI_PATH to a ComfyUI checkout with its venv")
            return None
        return ComfySystem(Path(path))
    if name == "runner":
        return RunnerSystem()
    if name == "floor":
        return BareTrickleSystem()
    if not PYTRICKLE_PYTHON.exists():
        _say(f"pytrickle skipped: {PYTRICKLE_PYTHON} missing (scripts/setup.sh makes it)")
        return None
    return PytrickleSystem()


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="paced measured part")
    parser.add_argument("--burst", type=float, default=30.0, help="fast measured part (s of clip)")
    parser.add_argument("--lead", type=int, default=10, help="fast feed: frames ahead of output")
    parser.add_argument("--warm", type=float, default=3.0, help="paced warm-up before each")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--long", action="store_true", help="paced part of 10 minutes (memory)")
    parser.add_argument("--systems", default=",".join(ALL), help="comma-separated subset")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the best of each is kept")
    parser.add_argument("--json", help="write all figures to this file")
    parser.add_argument("--profile", help="py-spy each system's fast stream into this folder")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "img" / "performance.png"))
    args = parser.parse_args()
    report = asyncio.run(run(args))
    figures, m = report["figures"], report["machine"]
    load = report["load_before"], report["load_after"]
    lines = [
        f"machine: {m['nproc']} cores, {m['cpu']}; load (1/5/15 min) before "
        f"{'/'.join(f'{x:.2f}' for x in load[0])}, after {'/'.join(f'{x:.2f}' for x in load[1])}",
        f"clip: {args.size}x{args.size} {args.fps:g} fps H.264, warm-up {args.warm:g} s, fast "
        f"{args.burst:g} s (lead {args.lead}), paced {report['clip']['paced_s']:g} s; best of "
        f"{args.repeat} round(s), systems interleaved",
        table(figures),
        *targets(figures, args.long),
        *paired(report["runs"]),
    ]
    for name, fig in figures.items():
        if fig.get("log_errors"):
            lines.append(f"WARNING: {name} logged {fig['log_errors']} errors: figures suspect")
    ours = figures.get("trickle-live", {})
    if "editor_ws" in ours:
        lines.append(
            f"editor tab websocket during the paced stream (messages/s): {ours['editor_ws']}"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    title = f"{args.size}x{args.size} {args.fps:g} fps, {m['nproc']} cores ({m['cpu']})"
    if figures and args.plot and plot(figures, Path(args.plot), title):
        sys.stdout.write(f"plot: {args.plot}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
