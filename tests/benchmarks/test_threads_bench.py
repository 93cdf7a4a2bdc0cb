"""benchmarks/threads.py prints each setting's CPU per frame, says whether the conversions give the
same bytes and which encoder setting streams sharing a runner use, and refuses bad arguments
before any work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import threads  # noqa: E402


def test_a_short_run_prints_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert threads.main(["--sizes", "64,96x64", "--seconds", "0.2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for size in ("64x64", "96x64"):
        block = out.split(f"\n{size} ")[1].split("\n\n")[0]
        rows = {line[:34].strip(): line for line in block.splitlines()[2:]}
        assert set(rows) == {
            "YUV→RGB24 PyAV default",
            "YUV→RGB24 Scaler",
            "RGB24→YUV PyAV default",
            "RGB24→YUV Scaler",
            "RGB24→H.264, codec's threads (0)",
            "RGB24→H.264, one thread (1)",
        }
        assert all(rows[name].endswith("same bytes") for name in rows if "H.264" not in name)
        assert rows["RGB24→H.264, one thread (1)"].endswith("several streams' choice")
        assert "encoder threads with several streams: 1" in block
        for line in rows.values():
            cpu_p50, cpu_mean, wall = (float(x) for x in line[34:].split()[:3])
            assert cpu_p50 >= 0 and cpu_mean >= 0 and wall > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "65"], "expected even sides >= 16, received '65'"),
        (["--sizes", "wide"], "expected WIDTH or WIDTHxHEIGHT, received 'wide'"),
        (["--rounds", "0"], "--rounds >= 1 and --seconds > 0, received 0"),
    ],
)
def test_bad_arguments_stop_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        threads.main(argv)
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
