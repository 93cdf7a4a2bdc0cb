"""benchmarks/floor_ratio.py: the floor and the systems run at once, and each round's ratio is
taken within that round; a round in which any stream lost a frame is shown but not counted.
Also run for real, briefly, with the runner beside the floor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from _systems import ComfySystem  # noqa: E402
from floor_ratio import Round, round_line, spread, summary, variant  # noqa: E402
from streams import Level  # noqa: E402


def level(cpu: float, lost: int = 0, worker: float | None = None) -> Level:
    return Level(1, 180, [180 - lost], [40.0], cpu, 0.1, 0.0, (0.0, 0.0, 0.0), worker, 0.3)


def test_ratios_are_taken_within_each_round_and_rounds_with_lost_frames_are_left_out() -> None:
    rounds = [
        Round({"floor": level(6.0), "runner": level(6.3)}),  # 1.05
        Round({"floor": level(8.0), "runner": level(8.0)}),  # 1.00: the machine was slower
        Round({"floor": level(7.0), "runner": level(7.7)}),  # 1.10
        Round({"floor": level(5.0), "runner": level(9.0, lost=3)}),  # overloaded: not counted
    ]
    median, low, high, count = spread(rounds, "runner") or (0, 0, 0, 0)
    assert (median, low, high, count) == pytest.approx((1.05, 1.0, 1.1, 3))
    # a ratio of medians (7.7 / 7.0) would have said 1.10: each round is its own pair
    assert not rounds[3].valid and "[not counted: 3 frame(s) lost]" in round_line(4, rounds[3])
    assert "not counted" not in round_line(1, rounds[0])
    assert spread([rounds[3]], "runner") is None
    assert summary([rounds[3]], ["runner"]) == [
        "runner: no valid round (frames were lost in every one)"
    ]


def test_comfyuis_worker_is_printed_per_round_and_as_the_median() -> None:
    rounds = [
        Round({"floor": level(6.0), "trickle-live": level(6.9, worker=0.7)}),
        Round({"floor": level(6.0), "trickle-live": level(6.6, worker=0.5)}),
        Round({"floor": level(6.0), "trickle-live": level(7.2, worker=0.9)}),
    ]
    assert "worker 0.70 (conversion 0.30)" in round_line(1, rounds[0])
    (line,) = summary(rounds, ["trickle-live"])
    assert "median 1.150 (range 1.100–1.200, 3 round(s))" in line
    assert line.endswith("worker thread 0.70 ms per frame")


def test_a_variant_is_a_further_comfyui_with_the_pack_from_another_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    with pytest.raises(SystemExit, match="set COMFYUI_PATH"):
        variant(ROOT)
    comfy = tmp_path / "ComfyUI"
    comfy.mkdir()
    (comfy / "main.py").write_text("")
    monkeypatch.setenv("COMFYUI_PATH", str(comfy))
    with pytest.raises(SystemExit, match="expected a trickle-live tree, received"):
        variant(tmp_path)
    tree = tmp_path / "si5"
    (tree / "nodes").mkdir(parents=True)
    (tree / "__init__.py").write_text("")
    other = variant(tree)
    try:
        assert isinstance(other, ComfySystem) and other.name == "trickle-live@si5"
        assert other.pack == tree.resolve() and other.comfy_path == comfy
    finally:
        other.stop()  # its work directory


def test_the_floor_and_the_runner_measured_together(tmp_path: Path) -> None:
    out = tmp_path / "ratio.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "floor_ratio.py"), "--systems", "runner",
         "--rounds", "1", "--skip", "0", "--seconds", "2", "--warm", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    (round_,) = report["rounds"]
    levels = round_["levels"]
    assert set(levels) == {"floor", "runner"}
    for name in ("floor", "runner"):
        assert levels[name]["cpu_ms_per_frame"] > 0 and sum(levels[name]["frames_out"]) > 0
    assert "runner: CPU per stream / floor's in the same window" in done.stdout or (
        "no valid round" in done.stdout  # a busy CI box may drop a frame: shown, not counted
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--systems", "pytrickle"], "--systems: expected some of runner,trickle-live"),
        (["--rounds", "0"], "--streams and --rounds must be at least 1"),
        (["--variant", "/nonexistent-tree"], "--variant:"),
    ],
)
def test_bad_arguments_stop_before_anything_boots(
    args: list[str], said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMFYUI_PATH", str(ROOT))  # no main.py: not a ComfyUI
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "floor_ratio.py"), "--systems", "runner", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode != 0 and said in done.stderr, done.stderr[-2000:]
    assert "booting" not in done.stderr
