"""The dependency floor: what requirements.txt and pyproject.toml claim is what is tested.

``.venv-avmin`` (``scripts/setup.sh --dev``) holds exactly the floor versions of aiohttp, av and
numpy; the media, protocol and HTTP-error tests run in it here as a subprocess, so CI tests the
oldest and (in ``.venv``) the newest versions. An older package inside a user's environment is
named in ``/trickle/status`` and refuses stream starts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tomllib
from trickle_live.trickle import deps

ROOT = Path(__file__).resolve().parents[2]
AVMIN = ROOT / ".venv-avmin" / "bin" / "python"
# what runs on the floor versions: everything that touches PyAV, numpy or aiohttp's server and
# client internals, but not the slow stream suites (CI time stays around half a minute)
FLOOR_TESTS = [
    "tests/media",
    "tests/test_frame_queue.py",
    "tests/protocol/test_protocol_cli.py",
    "tests/protocol/test_protocol_conformance_payload.py",
    "tests/protocol/test_protocol_conformance_basics.py",
    "tests/test_jsonsafe.py",
    "tests/runner/test_runner_json_errors.py",
    "tests/liverunner/test_liverunner_json_errors.py",
    "tests/web/test_web_json_errors.py",
]


def requirement_floors(lines: list[str]) -> dict[str, str]:
    floors = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9.]*)", line)
        assert match, f"requirement {line!r} is not NAME>=VERSION"
        floors[match[1].lower()] = match[2]
    return floors


def test_requirements_and_pyproject_state_the_tested_floors() -> None:
    req = requirement_floors((ROOT / "requirements.txt").read_text().splitlines())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert req == deps.FLOORS
    assert requirement_floors(project["dependencies"]) == deps.FLOORS
    # ComfyUI v0.8.0 asks av>=14.2.0: the pack must not need more than a real install has
    assert deps.version_tuple(deps.FLOORS["av"]) <= (14, 2, 0)


def test_the_check_names_old_or_missing_packages() -> None:
    ok = dict(deps.FLOORS)
    assert deps.check(ok) == []
    assert deps.check({**ok, "av": "18.1.0", "numpy": "2.4.6rc1"}) == []
    problems = deps.check({**ok, "av": "14.1.0", "numpy": None})
    assert len(problems) == 2
    assert "av 14.1.0 is too old" in problems[0] and "av>=14.2.0" in problems[0]
    assert "numpy is not installed" in problems[1]
    assert deps.version_tuple("17.0.0rc1") == (17, 0, 0)
    assert deps.problems() == ()  # this environment meets the floors


async def test_an_old_package_shows_in_status_and_refuses_starts(
    make_runner: Any, orchestrator: Any, http: aiohttp.ClientSession
) -> None:
    runner = await make_runner()
    status_url = runner.url + "/trickle/status"
    async with http.get(status_url) as resp:
        assert (await resp.json())["dependencies"] == {"ok": True, "problems": []}
    runner.api.dependency_problems = deps.check({**deps.FLOORS, "av": "13.1.0"})
    async with http.get(status_url) as resp:
        body = await resp.json()
    assert body["dependencies"]["ok"] is False
    assert "av 13.1.0 is too old" in body["dependencies"]["problems"][0]
    channels = orchestrator.create_channels()
    status, reply, _ = await orchestrator.start_stream(runner.url, channels)
    assert status == 500 and "av 13.1.0 is too old" in reply["detail"]["msg"]
    assert runner.api.manager.list() == []


@pytest.mark.skipif(not AVMIN.exists(), reason=f"{AVMIN} is missing (scripts/setup.sh --dev)")
def test_media_protocol_and_http_tests_pass_on_the_floor_versions() -> None:
    probe = subprocess.run(
        [
            str(AVMIN),
            "-c",
            "import json; from importlib.metadata import version as v; "
            f"print(json.dumps({{n: v(n) for n in {sorted(deps.FLOORS)!r}}}))",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert json.loads(probe.stdout) == deps.FLOORS, "recreate .venv-avmin: scripts/setup.sh --dev"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [str(AVMIN), "-m", "pytest", "-q", "-p", "no:cacheprovider", *FLOOR_TESTS],
        cwd=ROOT,
        capture_output=True,
        timeout=600,
        env=env,
    )
    tail = (run.stdout + run.stderr).decode(errors="replace")[-3000:]
    assert run.returncode == 0 and " passed" in tail, tail
