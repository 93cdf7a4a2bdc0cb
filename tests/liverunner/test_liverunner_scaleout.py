"""Growing past one runner: many runners behind one orchestrator (the distributed engine is
Livepeer itself).

Three ``python -m trickle runner --live-runner-port 0`` processes register dynamically with one
orchestrator emulator (capacity 1 each, as one ComfyUI per GPU would). Sessions reserved through
discovery spread over them; one runner is killed (SIGKILL, no goodbye) mid-session: its client sees
its output channel end once the O's heartbeat TTL drops the runner, the other two sessions keep
streaming, discovery no longer lists it, and a restarted runner registers again and serves a new
session.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber

sys.path.insert(0, str(Path(__file__).parent))
from lr_sessions import call, start_cli_runner, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Client:
    """One session's client: feeds ``in`` in real time, reads ``out``."""

    session_id: str
    runner_id: str
    reply: dict[str, Any]
    pub: TricklePublisher
    out: TrickleSubscriber
    feeder: asyncio.Task[None] | None = None
    segments_out: int = 0
    ended: bool = False
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def read(self) -> None:
        while (segment := await self.out.next_segment()) is not None:
            await segment.read_all()
            self.segments_out += 1
        self.ended = True

    async def close(self) -> None:
        for task in [self.feeder, *self.tasks]:
            if task is not None:
                task.cancel()
                with suppress(BaseException):
                    await task
        await self.pub.close(delete=False)
        await self.out.close()


@dataclass
class Runner:
    proc: asyncio.subprocess.Process
    url: str  # its live-runner app URL, as it registers it (runner_url)


async def spawn_runner(orch: Any) -> Runner:
    proc, url = await start_cli_runner(
        {
            "TRICKLE_LR_ORCH_URL": orch.url,
            "TRICKLE_LR_ORCH_SECRET": orch.secret,
            "TRICKLE_LR_BOOTSTRAP_MAX_BACKOFF": "0.3",
            "TRICKLE_LR_CAPACITY": "1",
        },
        stderr=asyncio.subprocess.DEVNULL,
    )
    return Runner(proc, url)


def runner_id_of(orch: Any, runner: Runner) -> str:
    (found,) = [
        r.runner_id for r in orch.runners.values() if r.body.get("runner_url") == runner.url
    ]
    return str(found)


async def discover_and_start(http: ClientSession, orch: Any, segments: list[bytes]) -> Client:
    """What a gateway does: discovery, then reserve on a runner with room, start, stream."""
    status, listing = await call(http, "GET", orch.url + "/discovery")
    assert status == 200
    free = [r for r in listing[0]["runners"] if r["capacity_available"] > 0]
    assert free, listing
    async with http.post(free[0]["url"]) as resp:
        assert resp.status == 200, await resp.text()
        reservation = await resp.json()
    runner_id = free[0]["url"].rstrip("/").split("/")[-2]
    status, reply = await call(http, "POST", reservation["app_url"] + "/start", {})
    assert status == 200, reply
    client = Client(
        reservation["session_id"], runner_id, reply,
        TricklePublisher(reply["publish_url"]), TrickleSubscriber(reply["subscribe_url"], start_seq=0),
    )  # fmt: skip

    async def feed() -> None:
        for data in segments:
            await client.pub.write_segment(data)
            await asyncio.sleep(0.5)

    client.feeder = asyncio.create_task(feed())
    client.tasks.append(asyncio.create_task(client.read()))
    return client


@pytest.mark.slow
async def test_three_runners_one_killed_one_restarted(orch: Any, segments: Any) -> None:
    runners = [await spawn_runner(orch) for _ in range(3)]
    clients: list[Client] = []
    try:
        await wait_until(lambda: len(orch.runners) == 3, 30, "three runners registered")
        data = segments(30, frames=15)  # 15 s of input per session, fed in real time
        async with ClientSession() as http:
            for _ in range(3):
                clients.append(await discover_and_start(http, orch, data))
            assert len({c.runner_id for c in clients}) == 3  # spread: one session per runner
            await wait_until(lambda: all(c.segments_out >= 1 for c in clients), 30, "outputs")
            victim, others = clients[0], clients[1:]
            (victim_runner,) = [r for r in runners if runner_id_of(orch, r) == victim.runner_id]
            victim_runner.proc.kill()  # no release, no unregister: a crash or a lost machine
            await victim_runner.proc.wait()
            # the O's TTL drops the runner and releases its session: the client sees the end
            await wait_until(lambda: victim.ended, 15, "the killed runner's session ended")
            assert victim.runner_id not in orch.runners
            before = [c.segments_out for c in others]
            await wait_until(
                lambda: all(c.segments_out >= b + 2 for c, b in zip(others, before, strict=True)),
                20, "the other sessions keep streaming",
            )  # fmt: skip
            assert not any(c.ended for c in others)
            status, listing = await call(http, "GET", orch.url + "/discovery")
            listed = {r["url"].rstrip("/").split("/")[-2] for r in listing[0]["runners"]}
            assert victim.runner_id not in listed and len(listed) == 2
            # a restarted runner registers again (a new id) and takes the next session
            runners.append(await spawn_runner(orch))
            await wait_until(lambda: len(orch.runners) == 3, 30, "the restarted runner registered")
            fresh = await discover_and_start(http, orch, data)
            clients.append(fresh)
            assert fresh.runner_id == runner_id_of(orch, runners[-1])
            await wait_until(lambda: fresh.segments_out >= 1, 30, "the restarted runner serves")
            for c in [*others, fresh]:  # the survivors' sessions are all still held at the O
                assert any(c.session_id in r.sessions for r in orch.runners.values())
    finally:
        for c in clients:
            await c.close()
        for runner in runners:
            proc = runner.proc
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                with suppress(Exception):
                    await asyncio.wait_for(proc.wait(), 20)


def free_port_pair() -> int:
    """A port p with p and p + 1 free on loopback (the script numbers runners from a base)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", base))
                b.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
        return base
    raise AssertionError("no two consecutive free ports")


@pytest.mark.slow
async def test_run_runners_script_starts_n_runners_that_register(orch: Any, tmp_path: Path) -> None:
    """``scripts/run-runners.sh 2 ORCH`` (standalone runners): both register with the O and take
    a session; SIGTERM to the script stops both, which unregister."""
    env = {
        **os.environ,
        "RUNNER": "standalone",
        "PYTHON": sys.executable,
        "TRICKLE_LR_ORCH_SECRET": orch.secret,
        "TRICKLE_LR_BOOTSTRAP_MAX_BACKOFF": "0.3",
        "BASE_PORT": str(free_port_pair()),
        "LR_BASE_PORT": str(free_port_pair()),
        "LOG_DIR": str(tmp_path),
    }
    proc = await asyncio.create_subprocess_exec(
        "bash", str(ROOT / "scripts" / "run-runners.sh"), "2", orch.url, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await wait_until(lambda: len(orch.runners) == 2, 30, "two runners registered")
        labels = sorted(r.body["label"] for r in orch.runners.values())
        assert labels == ["trickle-live-0", "trickle-live-1"]
        async with ClientSession() as http:
            for runner in list(orch.runners.values()):
                async with http.post(f"{orch.url}/apps/{runner.runner_id}/session") as resp:
                    reservation = await resp.json()
                status, _ = await call(http, "POST", reservation["app_url"] + "/start", {})
                assert status == 200
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        await wait_until(lambda: not orch.runners, 10, "both unregistered")
        assert orch.leaked() == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
