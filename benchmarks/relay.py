"""Relay benchmark (not a test): throughput and added latency of the in-process trickle server.

The server runs in its own process (``python -m trickle serve``, as an operator would run it); one
publisher and N subscribers (1, 4, 16) run in this process, all on loopback. For each N:

- throughput: the publisher sends ``--mib`` MiB in 4 MiB segments (64 KiB writes) as fast as it
  can; every subscriber reads every byte. Reported: MB/s per subscriber and delivered in total;
- latency: inside one open segment the publisher writes a 1 KiB chunk every 10 ms; for each chunk
  the time from ``write()`` to its last byte arriving at each subscriber (p50 / p95 / max).

Run from the repository root:  .venv/bin/python benchmarks/relay.py [--mib 64] [--chunks 200]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load_pack():  # the repository root as the package trickle_live (as the tests do)
    spec = importlib.util.spec_from_file_location(
        "trickle_live", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["trickle_live"] = module
    spec.loader.exec_module(module)


_load_pack()
import aiohttp  # noqa: E402
from trickle_live.trickle.protocol.publisher import TricklePublisher  # noqa: E402
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber  # noqa: E402

SEGMENT = 4 << 20
WRITE = 64 << 10
CHUNK = 1024


async def start_server() -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trickle",
        "--log-level",
        "WARNING",
        "serve",
        "--port",
        "0",
        "--autocreate",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    return proc, line.split()[3]


async def create_channel(url: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(url) as resp:  # autocreate is on
        assert resp.status == 200, resp.status


async def read_segments(sub: TrickleSubscriber, count: int, on_bytes=None) -> int:
    total = 0
    for _ in range(count):
        seg = await sub.next_segment()
        assert seg is not None
        async for data in seg.chunks():
            total += len(data)
            if on_bytes is not None:
                on_bytes(total)
    return total


async def throughput(url: str, subscribers: int, mib: int) -> tuple[float, float]:
    segments = max(1, (mib << 20) // SEGMENT)
    payload = bytes(range(256)) * (WRITE // 256)
    await create_channel(url)
    subs = [TrickleSubscriber(url, start_seq=0) for _ in range(subscribers)]
    readers = [asyncio.create_task(read_segments(s, segments)) for s in subs]
    await asyncio.sleep(0.3)
    started = time.perf_counter()
    async with TricklePublisher(url) as pub:
        for _ in range(segments):
            writer = await pub.next_segment()
            for _ in range(SEGMENT // WRITE):
                await writer.write(payload)
            await writer.close()
        totals = await asyncio.gather(*readers)
        elapsed = time.perf_counter() - started
    for s in subs:
        await s.close()
    assert all(t == segments * SEGMENT for t in totals), totals
    per_sub = segments * SEGMENT / elapsed / 1e6
    return per_sub, per_sub * subscribers


async def latency(url: str, subscribers: int, chunks: int) -> list[float]:
    sent: list[float] = []
    delays: list[float] = []

    def arrival(total: int, seen: list[int]) -> None:
        now = time.perf_counter()
        while seen[0] < len(sent) and (seen[0] + 1) * CHUNK <= total:
            delays.append(now - sent[seen[0]])
            seen[0] += 1

    await create_channel(url)
    await create_channel(url)
    subs = [TrickleSubscriber(url, start_seq=0) for _ in range(subscribers)]
    readers = []
    for s in subs:
        seen = [0]
        readers.append(
            asyncio.create_task(read_segments(s, 1, lambda t, seen=seen: arrival(t, seen)))
        )
    await asyncio.sleep(0.3)
    async with TricklePublisher(url) as pub:
        writer = await pub.next_segment()
        for _ in range(chunks):
            sent.append(time.perf_counter())
            await writer.write(b"x" * CHUNK)
            await asyncio.sleep(0.01)
        await writer.close()
        await asyncio.gather(*readers)
    for s in subs:
        await s.close()
    return delays


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(args: argparse.Namespace) -> None:
    proc, base = await start_server()
    try:
        print(
            f"server: {base} (separate process); payload {args.mib} MiB; {args.chunks} chunks of 1 KiB"
        )
        print(
            "| subscribers | MB/s per subscriber | MB/s delivered | chunk latency p50 | p95 | max |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for n in (1, 4, 16):
            per_sub, total = await throughput(f"{base}tp{n}", n, args.mib)
            delays = await latency(f"{base}lat{n}", n, args.chunks)
            print(
                f"| {n} | {per_sub:.0f} | {total:.0f} | {ms(delays, 0.5):.2f} ms "
                f"| {ms(delays, 0.95):.2f} ms | {max(delays) * 1000:.2f} ms |"
            )
            assert len(delays) == n * args.chunks
    finally:
        proc.terminate()
        await proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="MiB sent per throughput run")
    parser.add_argument("--chunks", type=int, default=200, help="chunks per latency run")
    asyncio.run(main(parser.parse_args()))
