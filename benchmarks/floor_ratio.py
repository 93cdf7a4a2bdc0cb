"""Per-stream CPU against the floor, measured in the same window.

See docs/performance.md#many-streams-issue-19.

``streams.py`` measures the systems one after another, and on a shared 2-core machine the same
system's CPU per frame moves by ±10 % from one window to the next (the floor's as much), so its
per-stream ratios carry that noise. Here the floor and every system under test run their streams
*at the same time*, over the same measured window, and each round's ratio is taken within that
window: whatever slows the machine down (a neighbour, the host, x264's thread timing) slows all
of them together. Spread of the ratio across rounds on the dev box: about ±3 % instead of ±10 %.

The systems are those of ``streams.py`` (``floor``, ``runner``, ``trickle-live``), and with
``--variant TREE`` a further ComfyUI with the pack from another tree, to compare two versions
of the pack in the same window (two identical ComfyUIs side by side differ by up to 5 %). Each gets
``--streams`` streams of the generated 512x512 30 fps clip, published in real time. A round's
figures are valid only if no stream of any system lost a frame: a machine that could not keep up
with all of them at once measures contention, not cost. Such rounds are printed and marked, and
left out of the medians; the first round warms every system up and is not counted.

Printed per round: each system's CPU ms per frame per stream and its ratio to the floor's in the
same round; for ComfyUI also its worker thread's CPU per frame and, of it, the IMAGE conversions
(``/trickle/status``). Then per system the median ratio with its range over the valid rounds.

Run from the repository root, with nothing else running (total streams = systems × --streams;
keep it below what the machine sustains, ``streams.py``):
    COMFYUI_PATH=/opt/comfyui .venv/bin/python benchmarks/floor_ratio.py
        [--systems runner,trickle-live] [--variant ../other-tree] [--streams 1] [--rounds 5]
        [--seconds 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from _feed import ClipLayout  # noqa: E402
from _proc import load_average  # noqa: E402
from _systems import ComfySystem, System  # noqa: E402
from compare import machine  # noqa: E402
from streams import Level, _make, _say, run_level  # noqa: E402

from trickle.media.testclip import make_test_clip  # noqa: E402
from trickle.runner.simulator import LocalOrchestrator  # noqa: E402

TESTED = ("runner", "trickle-live")


@dataclass
class Round:
    """One window: every system's level, measured at the same time."""

    levels: dict[str, Level]

    @property
    def valid(self) -> bool:
        return all(level.lost == 0 for level in self.levels.values())

    def ratio(self, name: str) -> float:
        floor = self.levels["floor"].cpu_ms_per_frame
        return self.levels[name].cpu_ms_per_frame / floor if floor > 0 else float("nan")


def spread(rounds: list[Round], name: str) -> tuple[float, float, float, int] | None:
    """(median, lowest, highest) of the system's per-round ratio over the valid rounds, and how
    many there were; None when no round was valid. Each ratio is taken within its own round, never
    as a ratio of medians: the point is that both sides saw the same machine."""
    ratios = [r.ratio(name) for r in rounds if r.valid and name in r.levels]
    if not ratios:
        return None
    return statistics.median(ratios), min(ratios), max(ratios), len(ratios)


def round_line(index: int, round_: Round) -> str:
    floor = round_.levels["floor"]
    cells = [f"floor {floor.cpu_ms_per_frame:.2f}"]
    for name, level in round_.levels.items():
        if name == "floor":
            continue
        cell = f"{name} {level.cpu_ms_per_frame:.2f} (× {round_.ratio(name):.3f})"
        if level.worker_ms is not None:
            cell += f" worker {level.worker_ms:.2f} (conversion {level.conversion_ms or 0.0:.2f})"
        cells.append(cell)
    lost = sum(level.lost for level in round_.levels.values())
    mark = "" if round_.valid else f"  [not counted: {lost} frame(s) lost]"
    return f"round {index}: " + " | ".join(cells) + mark


def summary(rounds: list[Round], names: list[str]) -> list[str]:
    lines = []
    for name in names:
        found = spread(rounds, name)
        if found is None:
            lines.append(f"{name}: no valid round (frames were lost in every one)")
            continue
        median, low, high, count = found
        workers = [r.levels[name].worker_ms for r in rounds if r.valid and name in r.levels]
        known = [w for w in workers if w is not None]
        worker = f"; worker thread {statistics.median(known):.2f} ms per frame" if known else ""
        lines.append(
            f"{name}: CPU per stream / floor's in the same window, median {median:.3f} "
            f"(range {low:.3f}–{high:.3f}, {count} round(s)){worker}"
        )
    return lines


async def run(args: argparse.Namespace) -> tuple[list[Round], list[str]]:
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(names) - set(TESTED))
    if unknown or not names:
        raise SystemExit(f"--systems: expected some of {','.join(TESTED)}, received {names}")
    packs = [Path(path) for path in args.variant or []]
    for pack in packs:
        check_variant(pack)
    os.environ["TRICKLE_CAPACITY"] = str(args.streams)  # the runner and ComfyUI read it
    warm = round(args.warm * args.fps)
    clip = make_test_clip(args.warm + args.seconds, args.size, args.size, args.fps)
    layout = ClipLayout.of(clip)
    systems = [s for s in (_make(n) for n in ("floor", *names)) if s]
    if [s.name for s in systems] != ["floor", *names]:
        for system in systems:
            system.stop()  # (their work directories)
        raise SystemExit("a system could not be made (see above)")
    systems += [variant(pack) for pack in packs]
    names = [s.name for s in systems[1:]]
    orch = LocalOrchestrator()
    await orch.start()
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    rounds: list[Round] = []
    try:
        for system in systems:
            _say(f"{system.name}: booting")
            await system.boot(http)  # type: ignore[attr-defined]
        for index in range(args.skip + args.rounds):
            _say(f"round {index + 1 - args.skip}" if index >= args.skip else "warm-up round")
            levels = await asyncio.gather(
                *(run_level(s, orch, http, layout, args.streams, args.fps, warm) for s in systems)
            )
            if index < args.skip:
                continue
            round_ = Round({s.name: lv for s, lv in zip(systems, levels, strict=True)})
            rounds.append(round_)
            sys.stdout.write(round_line(len(rounds), round_) + "\n")
            sys.stdout.flush()
    finally:
        await http.close()
        await orch.close()
        for system in systems:
            system.stop()
    return rounds, names


def check_variant(pack: Path) -> Path:
    """The ComfyUI a ``--variant`` tree runs in; SystemExit if there is none or the tree is not
    the pack (checked before any system is made)."""
    comfy = os.environ.get("COMFYUI_PATH")
    if not comfy or not (Path(comfy) / "main.py").is_file():
        raise SystemExit("--variant: set COMFYUI_PATH to a ComfyUI checkout with its venv")
    if not (pack / "__init__.py").is_file() or not (pack / "nodes").is_dir():
        raise SystemExit(f"--variant: expected a trickle-live tree, received {pack}")
    return Path(comfy)


def variant(pack: Path) -> System:
    """A further ComfyUI with the pack from another tree (``--variant``)."""
    comfy = check_variant(pack)
    return ComfySystem(comfy, pack=pack.resolve(), name=f"trickle-live@{pack.name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=",".join(TESTED), help="comma-separated subset")
    parser.add_argument(
        "--variant",
        action="append",
        metavar="TREE",
        help="also a ComfyUI with the pack from this tree (e.g. a git worktree of another "
        "commit), in the same window; repeatable",
    )
    parser.add_argument("--streams", type=int, default=1, help="streams per system at once")
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds")
    parser.add_argument("--skip", type=int, default=1, help="warm-up rounds, not counted")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured part per round")
    parser.add_argument("--warm", type=float, default=2.0, help="warm-up per round (s)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--json", help="write every round's figures to this file")
    args = parser.parse_args()
    if args.streams < 1 or args.rounds < 1 or args.skip < 0:
        parser.error("--streams and --rounds must be at least 1, --skip at least 0")
    m = machine()
    sys.stdout.write(
        f"machine: {m['nproc']} cores, {m['cpu']}; load (1/5/15 min) before "
        f"{'/'.join(f'{x:.2f}' for x in load_average())}\n"
        f"clip: {args.size}x{args.size} {args.fps:g} fps H.264; {args.streams} stream(s) per "
        f"system, all systems at once; {args.seconds:g} s measured per round\n"
        "CPU ms per frame per stream, × = ratio to the floor's in the same round\n"
    )
    rounds, names = asyncio.run(run(args))
    sys.stdout.write("\n".join(summary(rounds, names)) + "\n")
    if args.json:
        report: dict[str, Any] = {
            "machine": m,
            "streams": args.streams,
            "rounds": [
                {"valid": r.valid, "levels": {k: v.__dict__ for k, v in r.levels.items()}}
                for r in rounds
            ],
        }
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
