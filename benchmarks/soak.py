"""Soak: two live streams through one ComfyUI for an hour, with parameter updates and restarts.

A benchmark program, not a test. It starts a stock ComfyUI (``--comfyui``, default
``$COMFYUI_PATH``) with this pack and ``TRICKLE_CAPACITY=2`` (or drives a running one:
``--comfy URL`` with ``--pid PID`` for its process figures) and plays orchestrator and gateway for
two concurrent streams on the aiModels contract (``POST /live-video-to-video``, an in-process
trickle server on loopback):

- each stream runs the bundled ``blur`` workflow (live ``radius`` and ``sigma``) and is fed a
  generated H.264 clip (``--size``, keyframe every second) in real time at ``--fps``: a loop of
  ``--clip-seconds`` encoded once, its pts/dts/PCR and continuity counters rewritten per loop, so
  the feed costs no encoding and each stream lifetime is one unbroken 30 fps timeline;
- every ``--update-every`` seconds a control message changes both streams' radius and sigma;
- every ``--restart-every`` seconds one stream (alternately) ends its input, is waited out of
  ``/trickle/status`` and a new one starts in its place;
- every ``--sample-every`` seconds: ComfyUI's RSS, thread count and open files (``/proc``), its
  CPU, the load average; every ``--interval`` seconds one table row per stream is printed (and
  flushed, so a partial log is usable): frames sent/received, frames lost, the pack's drop
  counters, latency p50/p99 of that interval.

Latency of a frame = output published (the output chunk holding the start of the video PES with
that pts arrived) − input available (the write of the bytes ending that frame's PES returned);
the pack keeps input pts on output. Frames lost = frames sent in a stream lifetime − distinct pts
that came back (the input is ended ``--settle`` seconds after its last frame).

Verdicts (after ``--warmup`` seconds): RSS, threads and open files flat (median of the last
window against the first window; window = 10 min, or a third of the measured time when shorter;
tolerances printed beside them), no frame lost and no drop counted by the pack, p99 steady (the
last window's p99 at most 1.25× the first window's + 20 ms). The first ``--restart-grace``
seconds of each stream lifetime are left out of the latency figures (the workflow loads and
frames pass through meanwhile) but not out of the lost-frame count::

    nice -n 0 .venv/bin/python benchmarks/soak.py --comfyui /opt/comfyui --size 512x512 \\
        --json soak.json
    .venv/bin/python benchmarks/soak.py --duration 120 --update-every 20 --restart-every 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _feed import ClipLayout, _video_pes_pts  # noqa: E402
from _proc import cpu_seconds  # noqa: E402

from trickle.media.testclip import make_test_clip  # noqa: E402
from trickle.protocol.http import make_client_session  # noqa: E402
from trickle.protocol.publisher import SegmentWriter, TricklePublisher  # noqa: E402
from trickle.protocol.subscriber import TrickleSubscriber  # noqa: E402
from trickle.runner.simulator import Channels, LocalOrchestrator  # noqa: E402

START_PTS = 90_000
PTS_WRAP = 1 << 33
BOOT_TIMEOUT = 240.0
RSS_TOL_MB, RSS_TOL_FRAC = 32.0, 0.05
THREADS_TOL, FDS_TOL = 2, 4
P99_FACTOR, P99_SLACK_MS = 1.25, 20.0


def say(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None


# --- the looping feed ---------------------------------------------------------------------------


def _put_ts(buf: bytearray, at: int, value: int) -> None:
    """Write a 33-bit PES timestamp at ``at`` keeping its 4-bit prefix and marker bits."""
    buf[at] = (buf[at] & 0xF0) | ((value >> 30) & 7) << 1 | 1
    buf[at + 1] = (value >> 22) & 0xFF
    buf[at + 2] = ((value >> 15) & 0x7F) << 1 | 1
    buf[at + 3] = (value >> 7) & 0xFF
    buf[at + 4] = (value & 0x7F) << 1 | 1


def _get_ts(buf: bytearray, at: int) -> int:
    b = buf[at : at + 5]
    return ((b[0] >> 1) & 7) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1


def retime(clip: bytes, delta: int, counters: dict[int, int]) -> bytes:
    """The clip with ``delta`` (90 kHz) added to every PTS, DTS and PCR, and its continuity
    counters carried on from ``counters`` (updated), so loops join into one stream."""
    buf = bytearray(clip)
    for i in range(0, len(buf) - 187, 188):
        pid = (buf[i + 1] & 0x1F) << 8 | buf[i + 2]
        afc = buf[i + 3] >> 4 & 3
        if afc & 1:
            cc = (counters.get(pid, -1) + 1) & 15
            counters[pid] = cc
            buf[i + 3] = (buf[i + 3] & 0xF0) | cc
        start = i + 4
        if afc & 2:
            length = buf[i + 4]
            if length and buf[i + 5] & 0x10:
                p = i + 6
                base = buf[p] << 25 | buf[p + 1] << 17 | buf[p + 2] << 9 | buf[p + 3] << 1
                base = ((base | buf[p + 4] >> 7) + delta) % PTS_WRAP
                buf[p : p + 4] = (base >> 1).to_bytes(4, "big")
                buf[p + 4] = (buf[p + 4] & 0x7F) | (base & 1) << 7
            start += 1 + length
        if not (buf[i + 1] & 0x40 and afc & 1) or buf[start : start + 3] != b"\0\0\x01":
            continue
        if not 0xE0 <= buf[start + 3] <= 0xEF:
            continue
        flags = buf[start + 7] >> 6
        if flags & 2:
            _put_ts(buf, start + 9, (_get_ts(buf, start + 9) + delta) % PTS_WRAP)
        if flags == 3:
            _put_ts(buf, start + 14, (_get_ts(buf, start + 14) + delta) % PTS_WRAP)
    return bytes(buf)


@dataclass
class Loop:
    """One encoded clip and where each frame's bytes end (segment starts marked)."""

    clip: bytes
    frames: list[list[tuple[int, int, bool]]]  # per frame: (start, end, new segment) pieces
    count: int

    @classmethod
    def make(cls, seconds: float, width: int, height: int, fps: float) -> Loop:
        clip = make_test_clip(seconds, width, height, fps, start_pts=START_PTS)
        layout = ClipLayout.of(clip)
        frames, offset = [], 0
        for pieces in layout.pieces:
            spans = []
            for data, new_segment in pieces:
                spans.append((offset, offset + len(data), new_segment))
                offset += len(data)
            frames.append(spans)
        return cls(clip, frames, layout.frames)


# --- one stream lifetime ------------------------------------------------------------------------


@dataclass
class Lifetime:
    slot: str
    stream_id: str
    channels: Channels
    started: float = field(default_factory=time.monotonic)
    sent: dict[int, float] = field(default_factory=dict)  # pts → input available
    received: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    feed_late_ms: list[float] = field(default_factory=list)
    window_lat: list[float] = field(default_factory=list)  # this interval's latencies (ms)
    window_sent: int = 0
    window_received: int = 0
    pack: dict[str, Any] = field(default_factory=dict)  # last /trickle/status entry
    ended: bool = False
    output_done: asyncio.Event = field(default_factory=asyncio.Event)

    def lost(self) -> int:
        return len(set(self.sent) - self.received)

    def lost_settled(self) -> int:
        """Frames sent more than 2 s ago that did not come back (so far)."""
        cutoff = time.monotonic() - 2.0
        return sum(1 for pts, t in self.sent.items() if t < cutoff and pts not in self.received)


class Soak:
    def __init__(self, args: argparse.Namespace, url: str, pid: int | None) -> None:
        self.args, self.url, self.pid = args, url, pid
        self.width, self.height = args.size
        self.orch = LocalOrchestrator()
        self.http: aiohttp.ClientSession | None = None
        self.loop_clip: Loop | None = None
        self.live: dict[str, Lifetime] = {}
        self.done: list[Lifetime] = []
        self.samples: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.latencies: list[tuple[float, float]] = []  # (time since soak start, ms)
        self.updates = 0
        self.update_failures = 0
        self.restarts = 0
        self.t0 = 0.0
        self.tasks: dict[str, list[asyncio.Task[Any]]] = {}

    # -- HTTP to ComfyUI

    async def get(self, path: str) -> Any:
        assert self.http is not None
        async with self.http.get(self.url + path) as resp:
            return await resp.json(content_type=None)

    # -- streams

    def params(self) -> dict[str, Any]:
        graph = json.loads((ROOT / "api_workflows" / "blur.api.json").read_text())
        graph["1"]["inputs"].update(test_width=self.width, test_height=self.height)
        return {"prompt": graph, "radius": self.args.radius, "sigma": 2.0}

    async def start(self, slot: str) -> Lifetime:
        channels = self.orch.create_channels()
        stream_id = f"soak-{slot}-{channels.mid}"
        life = Lifetime(slot, stream_id, channels)
        status, body, took = await self.orch.start_stream(
            self.url, channels, self.params(), stream_id=stream_id
        )
        if status != 200:
            raise RuntimeError(f"{stream_id}: start answered {status} {body}")
        self.live[slot] = life
        self.tasks[slot] = [
            asyncio.create_task(self.feed(life), name=f"feed {slot}"),
            asyncio.create_task(self.read_output(life), name=f"output {slot}"),
            asyncio.create_task(self.read_events(life), name=f"events {slot}"),
            asyncio.create_task(self.keepalive(life), name=f"keepalive {slot}"),
        ]
        say(f"[{self.clock()}] started {stream_id} (start reply {took * 1e3:.0f} ms)")
        return life

    async def stop(self, slot: str) -> Lifetime:
        life = self.live[slot]
        life.ended = True
        feed, *rest = self.tasks[slot]
        await feed  # ends the input: settle, then DELETE the input channel
        await self.wait_gone(life, 60)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(life.output_done.wait(), 10)
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        self.orch.close_channels(life.channels)
        self.done.append(life)
        del self.live[slot]
        say(f"[{self.clock()}] stopped {life.stream_id}: {len(life.sent)} frames sent, "
            f"{len(life.received)} received, {life.lost()} lost, pack {self.pack_counts(life)}")  # fmt: skip
        return life

    async def wait_gone(self, life: Lifetime, timeout: float) -> None:
        """Until the stream has ended; its final counters from the status's ``recent`` list."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                status = await self.get("/trickle/status")
                ids = {s.get("stream_id") for s in status.get("streams", [])}
                if life.stream_id not in ids:
                    recent = {s.get("stream_id"): s for s in status.get("recent", [])}
                    life.pack = recent.get(life.stream_id, life.pack)
                    return
            await asyncio.sleep(0.5)
        say(f"[{self.clock()}] WARNING {life.stream_id} still listed {timeout:.0f} s after its end")

    async def feed(self, life: Lifetime) -> None:
        """The looping clip at ``fps`` until the stream is told to end; then settle and DELETE."""
        assert self.loop_clip is not None
        loop, fps = self.loop_clip, self.args.fps
        step = round(90_000 / fps)
        http = make_client_session()
        pub = TricklePublisher(life.channels.input, session=http)
        writer: SegmentWriter | None = None
        counters: dict[int, int] = {}
        began = time.monotonic()
        n = 0
        try:
            k = 0
            while not life.ended:
                data = await asyncio.to_thread(retime, loop.clip, k * loop.count * step, counters)
                for spans in loop.frames:
                    if life.ended:
                        break
                    due = began + n / fps
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    else:
                        life.feed_late_ms.append(-wait * 1e3)
                    for a, b, new_segment in spans:
                        if new_segment or writer is None:
                            if writer is not None:
                                await writer.close()
                            writer = await pub.next_segment()
                        await writer.write(data[a:b])
                    life.sent[(START_PTS + n * step) % PTS_WRAP] = time.monotonic()
                    life.window_sent += 1
                    n += 1
                k += 1
            if writer is not None:
                await writer.close()
            deadline = time.monotonic() + self.args.settle
            while time.monotonic() < deadline and len(life.received) < len(life.sent):
                await asyncio.sleep(0.1)
        finally:
            with contextlib.suppress(Exception):
                await pub.close(delete=True)
            await http.close()

    async def read_output(self, life: Lifetime) -> None:
        http = make_client_session()
        grace = self.args.restart_grace
        try:
            async with TrickleSubscriber(life.channels.output, session=http, start_seq=0) as sub:
                async for segment in sub:
                    carry = b""
                    async for chunk in segment.chunks():
                        now = time.monotonic()
                        data = bytearray(carry + chunk)
                        usable = len(data) - len(data) % 188
                        for i in range(0, usable, 188):
                            if data[i] != 0x47 or not data[i + 1] & 0x40:
                                continue
                            pts = _video_pes_pts(data, i)
                            if pts is None or pts in life.received:
                                continue
                            life.received.add(pts)
                            life.window_received += 1
                            sent = life.sent.get(pts)
                            if sent is not None and now - life.started > grace:
                                ms = (now - sent) * 1e3
                                life.window_lat.append(ms)
                                self.latencies.append((now - self.t0, ms))
                        carry = bytes(data[usable:])
        finally:
            life.output_done.set()
            await http.close()

    async def read_events(self, life: Lifetime) -> None:
        http = make_client_session()
        try:
            async with TrickleSubscriber(life.channels.events, session=http, start_seq=0) as sub:
                async for segment in sub:
                    body = await segment.read_all(1 << 20)
                    with contextlib.suppress(ValueError):
                        event = json.loads(body).get("event", {})
                        if event.get("type") == "error":
                            life.errors.append(str(event.get("message")))
                            say(
                                f"[{self.clock()}] {life.stream_id} error event: {event.get('message')}"
                            )
        finally:
            await http.close()

    async def keepalive(self, life: Lifetime) -> None:
        http = make_client_session()
        control = TricklePublisher(life.channels.control, "application/json", session=http)
        try:
            while True:
                await asyncio.sleep(10)
                await control.write_segment(b'{"keep": "alive"}')
        finally:
            with contextlib.suppress(Exception):
                await control.close(delete=False)
            await http.close()

    async def update(self, radius: int, sigma: float) -> None:
        """A live parameter update on every running stream (its control channel)."""
        for life in list(self.live.values()):
            http = make_client_session()
            control = TricklePublisher(life.channels.control, "application/json", session=http)
            try:
                await control.write_segment(json.dumps({"radius": radius, "sigma": sigma}).encode())
                self.updates += 1
            except Exception as exc:  # noqa: BLE001 - counted and reported, the soak goes on
                self.update_failures += 1
                say(f"[{self.clock()}] update of {life.stream_id} failed: {exc!r}")
            finally:
                with contextlib.suppress(Exception):
                    await control.close(delete=False)
                await http.close()

    # -- figures

    def clock(self) -> str:
        return f"{time.monotonic() - self.t0:7.1f}s" if self.t0 else "   boot"

    def proc(self) -> dict[str, Any]:
        sample: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 1),
                                  "load1": round(os.getloadavg()[0], 2)}  # fmt: skip
        if self.pid is None:
            return sample
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{self.pid}/status").read_text().splitlines()
            fields = dict(line.split(":", 1) for line in status if ":" in line)
            sample["rss_mb"] = round(int(fields["VmRSS"].split()[0]) / 1024, 1)
            sample["threads"] = int(fields["Threads"])
            sample["fds"] = len(os.listdir(f"/proc/{self.pid}/fd"))
            sample["cpu_s"] = round(cpu_seconds(self.pid), 2)
        return sample

    def pack_counts(self, life: Lifetime) -> dict[str, Any]:
        keys = ("frames_in", "frames_out", "drops", "superseded", "segments_dropped", "errors")
        return {k: life.pack.get(k) for k in keys}

    async def poll_pack(self) -> None:
        with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError):
            status = await self.get("/trickle/status")
            by_id = {s.get("stream_id"): s for s in status.get("streams", [])}
            for life in self.live.values():
                if life.stream_id in by_id:
                    life.pack = by_id[life.stream_id]

    async def sampler(self) -> None:
        while True:
            await self.poll_pack()
            self.samples.append(self.proc())
            await asyncio.sleep(self.args.sample_every)

    def row(self, started: float) -> None:
        now = time.monotonic()
        sample = self.samples[-1] if self.samples else {}
        prev_cpu = next((s.get("cpu_s") for s in reversed(self.samples)
                         if s["t"] <= started - self.t0), None)  # fmt: skip
        cpu = None
        if prev_cpu is not None and sample.get("cpu_s") is not None:
            cpu = round((sample["cpu_s"] - prev_cpu) * 100 / max(1e-9, now - started), 0)
        for slot in sorted(self.live):
            life = self.live[slot]
            pack = life.pack
            row = {"t": round(now - self.t0), "stream": life.stream_id, "sent": life.window_sent,
                   "received": life.window_received, "lost_so_far": life.lost_settled(),
                   "pack_drops": pack.get("drops"), "pack_seg_dropped": pack.get("segments_dropped"),
                   "p50_ms": pct(life.window_lat, 0.5), "p99_ms": pct(life.window_lat, 0.99),
                   "max_ms": round(max(life.window_lat), 1) if life.window_lat else None,
                   "rss_mb": sample.get("rss_mb"), "threads": sample.get("threads"),
                   "fds": sample.get("fds"), "cpu_pct": cpu, "load1": sample.get("load1")}  # fmt: skip
            life.window_lat, life.window_sent, life.window_received = [], 0, 0
            self.rows.append(row)
            say(" ".join(f"{k}={v}" for k, v in row.items()))

    async def run(self) -> dict[str, Any]:
        args = self.args
        say(f"encoding the {args.clip_seconds:.0f} s {self.width}x{self.height} loop")
        self.loop_clip = await asyncio.to_thread(
            Loop.make, args.clip_seconds, self.width, self.height, args.fps
        )
        await self.orch.start()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.t0 = time.monotonic()
        sampler = asyncio.create_task(self.sampler(), name="sampler")
        try:
            await self.start("a")
            await self.start("b")
            next_update = args.update_every
            next_restart = args.restart_every
            next_row = args.interval
            restart_slot = "a"
            updates = [(2, 1.0), (3, 1.5), (1, 0.5), (4, 2.0)]
            while True:
                elapsed = time.monotonic() - self.t0
                if elapsed >= args.duration:
                    break
                wake = min(next_update, next_restart, next_row, args.duration)
                await asyncio.sleep(max(0.0, wake - elapsed))
                elapsed = time.monotonic() - self.t0
                if elapsed >= next_row:
                    row_start = self.t0 + next_row - args.interval
                    await self.poll_pack()
                    self.samples.append(self.proc())
                    self.row(row_start)
                    next_row += args.interval
                if elapsed >= next_update and elapsed < args.duration:
                    radius, sigma = updates[self.updates // 2 % len(updates)]
                    await self.update(radius, sigma)
                    say(f"[{self.clock()}] update radius={radius} sigma={sigma}")
                    next_update += args.update_every
                if elapsed >= next_restart and elapsed < args.duration:
                    await self.stop(restart_slot)
                    await self.start(restart_slot)
                    self.restarts += 1
                    restart_slot = "b" if restart_slot == "a" else "a"
                    next_restart += args.restart_every
            for slot in sorted(self.live):
                await self.stop(slot)
            self.samples.append(self.proc())
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
            for tasks in self.tasks.values():
                for task in tasks:
                    task.cancel()
            await self.http.close()
            await self.orch.close()
        return self.verdicts()

    def verdicts(self) -> dict[str, Any]:
        args = self.args
        measured = max(0.0, args.duration - args.warmup)
        window = min(600.0, measured / 3)
        first = (args.warmup, args.warmup + window)
        last = (args.duration - window, args.duration + 1e9)

        def within(span: tuple[float, float], key: str) -> list[float]:
            return [s[key] for s in self.samples if span[0] <= s["t"] < span[1] and key in s]

        result: dict[str, Any] = {"window_s": window, "first_window": first[:2],
                                  "last_window": [last[0], args.duration]}  # fmt: skip
        checks: dict[str, Any] = {}
        for key, tol in (("rss_mb", None), ("threads", THREADS_TOL), ("fds", FDS_TOL)):
            a, b = within(first, key), within(last, key)
            if not a or not b:
                checks[key] = {"verdict": "n/a (no samples)"}
                continue
            ma, mb = statistics.median(a), statistics.median(b)
            allowed = max(RSS_TOL_MB, RSS_TOL_FRAC * ma) if tol is None else tol
            checks[key] = {"first_median": ma, "last_median": mb, "growth": round(mb - ma, 1),
                           "tolerance": round(allowed, 1), "first_max": max(a), "last_max": max(b),
                           "verdict": "FLAT" if mb - ma <= allowed else "GROWS"}  # fmt: skip
        lives = self.done
        sent = sum(len(x.sent) for x in lives)
        lost = sum(x.lost() for x in lives)
        pack_drops = sum(int(x.pack.get("drops") or 0) for x in lives)
        seg_dropped = sum(int(x.pack.get("segments_dropped") or 0) for x in lives)
        errors = sum(len(x.errors) for x in lives)
        # a frame the pack dropped on purpose (live video drops the oldest waiting frame when
        # the graph falls behind: the machine's capacity) is counted; one lost without a count
        # is the pack's fault
        unaccounted = sum(max(0, x.lost() - int(x.pack.get("drops") or 0)) for x in lives)
        checks["frames"] = {"sent": sent, "lost": lost, "pack_drops": pack_drops,
                            "lost_uncounted": unaccounted,
                            "drops_not_lost": sum(max(0, int(x.pack.get("drops") or 0) - x.lost())
                                                  for x in lives),
                            "pack_segments_dropped": seg_dropped, "error_events": errors,
                            "per_lifetime": [{"stream": x.stream_id, "sent": len(x.sent),
                                              "lost": x.lost(), **self.pack_counts(x)}
                                             for x in lives],
                            "verdict": "NONE LOST" if lost == pack_drops == seg_dropped == 0
                            else "LOST"}  # fmt: skip
        lat_a = [ms for t, ms in self.latencies if first[0] <= t < first[1]]
        lat_b = [ms for t, ms in self.latencies if last[0] <= t]
        p99a, p99b = pct(lat_a, 0.99), pct(lat_b, 0.99)
        if p99a is None or p99b is None:
            checks["p99"] = {"verdict": "n/a (no latency samples)"}
        else:
            allowed = P99_FACTOR * p99a + P99_SLACK_MS
            checks["p99"] = {"first_ms": p99a, "last_ms": p99b, "allowed_ms": round(allowed, 1),
                             "first_p50_ms": pct(lat_a, 0.5), "last_p50_ms": pct(lat_b, 0.5),
                             "verdict": "STEADY" if p99b <= allowed else "RISES"}  # fmt: skip
        every = [ms for _, ms in self.latencies]
        late = [ms for x in lives for ms in x.feed_late_ms]
        result.update(checks=checks, latency_all={"p50": pct(every, 0.5), "p99": pct(every, 0.99),
                      "max": round(max(every), 1) if every else None, "count": len(every)},
                      feed_late={"frames_late": len(late), "p99_ms": pct(late, 0.99),
                                 "max_ms": round(max(late), 1) if late else None},
                      updates=self.updates, update_failures=self.update_failures,
                      restarts=self.restarts)  # fmt: skip
        loads = [s["load1"] for s in self.samples]
        result["load1"] = {"median": statistics.median(loads) if loads else None,
                           "max": max(loads, default=None), "cores": os.cpu_count()}  # fmt: skip
        result["rows"], result["samples"] = self.rows, self.samples
        return result


# --- ComfyUI ------------------------------------------------------------------------------------


def boot_comfyui(comfy: Path, work: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    python = os.environ.get("COMFYUI_PYTHON") or str(comfy / "venv" / "bin" / "python")
    base = work / "base"
    (base / "custom_nodes").mkdir(parents=True)
    (base / "custom_nodes" / "trickle-live").symlink_to(ROOT, target_is_directory=True)
    port, lr_port = free_port(), free_port()
    cmd = [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
           "--base-directory", str(base), "--disable-api-nodes"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TRICKLE_CAPACITY": "2",
           "TRICKLE_INPUT_TIMEOUT": "20", "TRICKLE_LR_PORT": str(lr_port)}  # fmt: skip
    log_path = work / "comfyui.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, cwd=comfy, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + BOOT_TIMEOUT
    import urllib.request

    while True:
        try:
            with urllib.request.urlopen(url + "/system_stats", timeout=2):
                return process, url, log_path
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(log_path.read_text(errors="replace")[-3000:]) from None
            time.sleep(0.5)


def size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h or w)


def report(result: dict[str, Any], args: argparse.Namespace) -> None:
    c = result["checks"]
    say("\n=== soak verdicts ===")
    say(f"windows: first {result['first_window']} s, last {result['last_window']} s "
        f"({result['window_s']:.0f} s each, after {args.warmup:.0f} s warm-up)")  # fmt: skip
    for key, unit in (("rss_mb", "MB"), ("threads", ""), ("fds", "")):
        x = c[key]
        if "first_median" in x:
            say(f"{key}: {x['first_median']} → {x['last_median']} {unit} (growth {x['growth']}, "
                f"tolerance {x['tolerance']}; max {x['first_max']} → {x['last_max']}): "
                f"{x['verdict']}")  # fmt: skip
        else:
            say(f"{key}: {x['verdict']}")
    f = c["frames"]
    say(f"frames: {f['sent']} sent, {f['lost']} lost (sent − received), pack drops "
        f"{f['pack_drops']}, output segments dropped {f['pack_segments_dropped']}, error events "
        f"{f['error_events']}: {f['verdict']}; lost without a pack drop count: "
        f"{f['lost_uncounted']}, pack drops that were not lost: {f['drops_not_lost']}")  # fmt: skip
    p = c["p99"]
    if "first_ms" in p:
        say(f"latency p99: {p['first_ms']} → {p['last_ms']} ms (allowed {p['allowed_ms']}; p50 "
            f"{p['first_p50_ms']} → {p['last_p50_ms']}): {p['verdict']}")  # fmt: skip
    else:
        say(f"latency p99: {p['verdict']}")
    la = result["latency_all"]
    fl = result["feed_late"]
    say(f"latency over the run: p50 {la['p50']} p99 {la['p99']} max {la['max']} ms "
        f"({la['count']} frames); updates {result['updates']} (failed "
        f"{result['update_failures']}), restarts {result['restarts']}")  # fmt: skip
    say(f"feed: {fl['frames_late']} frames left late (p99 {fl['p99_ms']} ms, max {fl['max_ms']})")
    load = result["load1"]
    if load["median"] is not None and load["median"] > (load["cores"] or 1) * 0.9:
        say(f"NOTE: load average median {load['median']} (max {load['max']}) on {load['cores']} "
            "cores: the box was contended (other work shares the cores), so drops or latency "
            "may be the machine's, not the pack's")  # fmt: skip
    else:
        say(f"load average median {load['median']} (max {load['max']}) on {load['cores']} cores")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfyui", type=Path, default=Path(os.environ.get("COMFYUI_PATH", "")))
    parser.add_argument("--comfy", help="a running ComfyUI's URL (capacity ≥ 2) instead")
    parser.add_argument("--pid", type=int, help="its process id, for RSS/threads/files")
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--update-every", type=float, default=60.0)
    parser.add_argument("--restart-every", type=float, default=600.0)
    parser.add_argument("--interval", type=float, default=60.0, help="table row every … s")
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=120.0)
    parser.add_argument("--size", type=size, default=(512, 512), help="WxH")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--radius", type=int, default=2)
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--restart-grace", type=float, default=3.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    say(f"soak: {args.duration:.0f} s, 2 streams {args.size[0]}x{args.size[1]} @ {args.fps} fps, "
        f"update every {args.update_every:.0f} s, restart every {args.restart_every:.0f} s; "
        f"{os.cpu_count()} cores, load {os.getloadavg()}; {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="trickle-soak-"))
    process = None
    try:
        if args.comfy:
            url, pid = args.comfy.rstrip("/"), args.pid
        else:
            process, url, log_path = boot_comfyui(args.comfyui.resolve(), work)
            pid = process.pid
            say(f"ComfyUI pid {pid} at {url}, log {log_path}")
        result = asyncio.run(Soak(args, url, pid).run())
        if process is not None:
            text = log_path.read_text(errors="replace")
            # boot-time import failures of ComfyUI's optional nodes (no torchaudio) not counted
            result["comfyui_log_errors"] = text.count("Traceback (most recent call last)") - (
                text.count("Cannot import ")
            )
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            keep = work / "comfyui.log"
            if keep.exists():
                shutil.copy(keep, Path(tempfile.gettempdir()) / "trickle-soak-comfyui.log")
        shutil.rmtree(work, ignore_errors=True)
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                         "size": list(args.size), "fps": args.fps, "duration": args.duration,
                         "update_every": args.update_every, "restart_every": args.restart_every,
                         "command": " ".join(sys.argv)}  # fmt: skip
    report(result, args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
