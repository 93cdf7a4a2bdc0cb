"""Interop: livepeer-gateway 1.0.0 (PyPI, an independent implementation) drives the live-runner app.

The SDK needs Python >= 3.12 and gRPC, so it lives in its own venv, ``.venv-lpgw``:
``~/.pyenv/versions/3.12.1/bin/python -m venv .venv-lpgw && .venv-lpgw/bin/pip install
livepeer-gateway==1.0.0``. Without it the test is skipped, saying so. The SDK client
(``lpgw_client.py``) reserves through the emulator's ``/discovery``, starts, streams, updates on
both paths, reads events and stops; the runner is ours, on its own port.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LPGW_PYTHON = ROOT / ".venv-lpgw" / "bin" / "python"
CLIENT = Path(__file__).with_name("lpgw_client.py")
FRAMES = 90


def _sdk_ready() -> str | None:
    if not LPGW_PYTHON.exists():
        return f"{LPGW_PYTHON} missing (create .venv-lpgw with livepeer-gateway==1.0.0)"
    probe = subprocess.run(
        [str(LPGW_PYTHON), "-c", "import livepeer_gateway"], capture_output=True, timeout=60
    )
    if probe.returncode != 0:
        return "livepeer_gateway does not import in .venv-lpgw: " + probe.stderr.decode()[-200:]
    return None


pytestmark = pytest.mark.skipif(bool(reason := _sdk_ready()), reason=reason or "")


async def test_livepeer_gateway_sdk_drives_the_live_runner(orch: Any, live: Any) -> None:
    service, _ = live
    proc = await asyncio.create_subprocess_exec(
        str(LPGW_PYTHON),
        str(CLIENT),
        "--orchestrator",
        orch.url,
        "--app",
        service.cfg.app,
        "--frames",
        str(FRAMES),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()[-3000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    sid, reply = result["session_id"], result["reply"]
    assert reply["session_id"] == sid
    assert reply["publish_url"].startswith(f"http://localhost:{orch.port}/ai/trickle/{sid}-")
    assert result["update"]["applied"] == {"strength": 1.0}
    assert result["stop"]["stopped"] is True
    # the runner had self-released already; go answers 204 to a client stop of any session id
    # of a known runner (ReleaseSession is a no-op for an unknown one)
    assert result["client_stop"] == 204
    assert orch.leaked() == []
    # frames came back with the SDK's pts (1/30 s rescaled to 90 kHz): index = pts / 3000
    frames, levels = result["frames"], result["sent_levels"]
    assert len(frames) >= FRAMES // 2, len(frames)
    assert all(pts % 3000 == 0 and 0 <= pts // 3000 < FRAMES for pts, _ in frames)
    indices = [pts // 3000 for pts, _ in frames]
    # gap-free: each SDK segment is its own TS muxer run (two per trickle segment), none of
    # their last frames may be lost (the decoder demuxes each run on its own)
    assert indices == list(range(FRAMES - 15)), indices
    early = [(i, m) for i, (_, m) in zip(indices, frames, strict=True) if i < FRAMES // 2 - 5]
    late = [(i, m) for i, (_, m) in zip(indices, frames, strict=True) if i > FRAMES // 2 + 25]
    assert early and all(abs((255 - levels[i]) - m) < 25 for i, m in early)  # strength 1: inverted
    assert late and all(abs(levels[i] - m) < 25 for i, m in late)  # control {"strength": 0} applied
    assert result["events"], "no event read back"
    # the runner released its slot and its channels at the orchestrator
    await asyncio.sleep(0.2)
    assert len(service.app.sessions) == 0
    assert not [n for n in orch.trickle.channel_names() if sid in n]
