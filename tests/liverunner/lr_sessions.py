"""Drive live-runner sessions as a client would, through the orchestrator emulator, and end each
one by a chosen path: the driver behind the back-to-back and concurrent-session tests (standalone
runner, ``python -m trickle runner``, and a real ComfyUI).

Every session: reserve at the O (a 503 here means an earlier session was never released), start
through the O's proxy, publish real MPEG-TS on the public ``in`` URL in real time, read one output
segment from ``out``, send an update, then end by ``ending``:

- ``client_stop``: ``POST {app_url}/stop`` (the app stops and self-releases);
- ``o_release``: ``POST {control_url}/stop`` at the O (o2r ``released`` where the runner is
  dynamic; the O closes the session's channels, so the runner sees its input end);
- ``input_end``: the client's publisher closes (DELETE ``in``): the stream ends by itself;
- ``idle``: the client stops sending (the runner's idle timeout ends the session);
- ``runner_error``: the ``out`` channel disappears under the runner (its output publisher fails
  and the stream stops with an error).

It returns only once the O no longer holds the session (released).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from aiohttp import ClientSession
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber
from yarl import URL

ENDINGS = ("client_stop", "o_release", "input_end", "idle", "runner_error")
ROOT = Path(__file__).resolve().parents[2]


async def start_cli_runner(
    env: dict[str, str] | None = None, stderr: int = asyncio.subprocess.PIPE
) -> tuple[asyncio.subprocess.Process, str]:
    """``python -m trickle runner --processor invert --live-runner-port 0`` from the repository
    root (``env`` added to the environment); returns it and its live-runner app URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trickle", "runner", "--port", "0", "--processor", "invert",
        "--live-runner-port", "0", cwd=ROOT, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=stderr,
    )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, "the runner exited before printing its live-runner URL"
            if line.strip().startswith("live runner:"):
                return proc, line.split()[2]


@dataclass
class Served:
    session_id: str
    ending: str
    frames: list[tuple[int, float]]  # (pts, mean brightness) of the first output segment
    update: Any
    stop_reply: Any = None


async def call(http: ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, URL(url, encoded=True), json=body) as resp:
        raw = await resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")


def decode(data: bytes) -> list[tuple[int, float]]:
    """(pts, mean brightness) of every video frame in a TS byte stream."""
    out = []
    with av.open(io.BytesIO(data), format="mpegts") as container:
        for frame in container.decode(video=0):
            out.append((int(frame.pts), float(frame.to_ndarray(format="rgb24").mean())))
    return out


async def until(predicate: Any, timeout: float = 8.0) -> None:
    """Poll ``predicate()`` every 20 ms until it holds; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not in {timeout}s: {what}"
        await asyncio.sleep(0.02)


async def serve_one(
    http: ClientSession,
    orch: Any,
    route: str,
    ending: str,
    segments: list[bytes],
    *,
    start_body: dict[str, Any] | None = None,
    update: dict[str, Any] | None = None,
    output_timeout: float = 30.0,
    end_timeout: float = 20.0,
    pace: float = 0.5,
) -> Served:
    """One session; ``segments`` are fed one per ``pace`` seconds (their duration) until the
    ending, so input never goes idle before the ``idle`` ending wants it to."""
    assert ending in ENDINGS, ending
    async with http.post(f"{orch.url}/apps/{route}/session") as resp:
        text = await resp.text()
        assert resp.status == 200, f"reserve: {resp.status} {text}"  # 503: a session leaked
        reservation = json.loads(text)
    sid, app_url = reservation["session_id"], reservation["app_url"]
    status, reply = await call(http, "POST", app_url + "/start", start_body or {})
    assert status == 200, (sid, status, reply)
    out = TrickleSubscriber(reply["subscribe_url"], start_seq=0)
    pub = TricklePublisher(reply["publish_url"])
    served = Served(sid, ending, [], None)

    async def feed() -> None:  # in real time, as a live source does, until told to stop
        for data in segments:
            await pub.write_segment(data)
            await asyncio.sleep(pace)

    feeder = asyncio.create_task(feed())
    try:
        segment = await asyncio.wait_for(out.next_segment(), output_timeout)
        assert segment is not None, f"{sid}: no output"
        served.frames = decode(await segment.read_all())
        if update is not None:
            status, served.update = await call(http, "POST", app_url + "/update", update)
            assert status == 200, (sid, status, served.update)
        if ending in ("input_end", "idle"):
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
        if ending == "client_stop":
            status, served.stop_reply = await call(http, "POST", app_url + "/stop")
            assert status == 200 and served.stop_reply["stopped"] is True, served.stop_reply
        elif ending == "o_release":
            status, _ = await call(http, "POST", reservation["control_url"] + "/stop")
            assert status == 204, status
        elif ending == "input_end":
            await pub.close(delete=True)
        elif ending == "runner_error":  # the runner is still producing: its next output fails
            assert orch.trickle.delete_channel(f"{sid}-out")
        runner = orch.runners[route]
        await wait_until(lambda: sid not in runner.sessions, end_timeout, f"{sid} released")
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        await pub.close(delete=False)
        await out.close()
    return served
