"""Interop with pytrickle 0.1.6 (PyPI) as an independent peer, byte-exact, both directions:
pytrickle's publisher → our server → our subscriber, and our publisher → our server → pytrickle's
subscriber. pytrickle runs in its own virtual environment, in a subprocess."""

from __future__ import annotations

import asyncio
import random
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.server import TrickleServer
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber

ROOT = Path(__file__).resolve().parents[2]
PYTRICKLE = ROOT / ".venv-pytrickle" / "bin" / "python"

pytestmark = pytest.mark.skipif(
    not PYTRICKLE.exists(),
    reason=f"pytrickle's environment {PYTRICKLE} is missing (scripts/setup.sh)",
)

SIZES = [1, 1000, 65_536, 300_001, 1_234_567]

PUBLISH = textwrap.dedent(
    """
    import asyncio, random, sys
    from pytrickle.publisher import TricklePublisher
    url, sizes = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
    rng = random.Random(2)
    async def main():
        pub = TricklePublisher(url, "video/mp2t")
        await pub.start()
        for size in sizes:
            data = rng.randbytes(size)
            writer = await pub.next()
            for pos in range(0, size, 7000):
                await writer.write(data[pos:pos + 7000])
            await writer.close()
            # pace like an encoder: next() called again before pytrickle's background preconnect
            # took its lock would POST the same seq twice (its race, P1)
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.0)  # pytrickle's close() aborts POSTs still in flight
        await pub.close()
    asyncio.run(main())
    """
)

SUBSCRIBE = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from pytrickle.subscriber import TrickleSubscriber
    url, start, count, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    async def main():
        sub = TrickleSubscriber(url, start_seq=start)
        await sub.start()
        for _ in range(count):
            seg = await sub.next()
            if seg is None:
                break
            parts = []
            while (chunk := await seg.read()):
                parts.append(chunk)
            (out / str(seg.seq())).write_bytes(b"".join(parts))
            await seg.close()
        await sub.close()
    asyncio.run(main())
    """
)


async def run_pytrickle(script: str, *args: str, timeout: float = 60) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(PYTRICKLE),
        "-c",
        script,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, timeout: float = 60) -> None:
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()[-2000:]


def expected_segments() -> list[bytes]:
    rng = random.Random(2)
    return [rng.randbytes(size) for size in SIZES]


async def test_pytrickle_publisher_to_our_subscriber(base, server):
    async with TrickleSubscriber(base + "ch", start_seq=0, first_byte_timeout=30) as sub:
        proc = await run_pytrickle(PUBLISH, base + "ch", ",".join(map(str, SIZES)))
        got = []
        for _ in SIZES:
            seg = await sub.next_segment()
            assert seg is not None
            got.append((seg.seq, await seg.read_all()))
        await finish(proc)
    assert [seq for seq, _ in got] == list(range(len(SIZES)))
    assert [body for _, body in got] == expected_segments()


@pytest.fixture
async def logged() -> AsyncIterator[tuple[str, list[str]]]:
    """Our server behind a middleware that records each request (to know when pytrickle waits)."""
    seen: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        seen.append(f"{request.method} {request.path}")
        return await handler(request)

    srv = TrickleServer(continue_interval=0.2, disconnect_poll=0.05)
    app = web.Application(middlewares=[record])
    srv.register(app)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.create_channel("ch")
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/", seen
    await srv.close()
    await runner.cleanup()


async def wait_for_request(seen: list[str], wanted: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while wanted not in seen:
        assert loop.time() < deadline, f"{wanted} never arrived: {seen}"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)


async def test_our_publisher_to_pytrickle_subscriber(logged, tmp_path):
    base, seen = logged
    proc = await run_pytrickle(SUBSCRIBE, base + "ch", "0", str(len(SIZES) + 1), str(tmp_path))
    await wait_for_request(seen, "GET /ch/0")
    sent = expected_segments()
    async with TricklePublisher(base + "ch") as pub:
        for body in sent:
            writer = await pub.next_segment()
            for pos in range(0, len(body), 10_000):
                await writer.write(body[pos : pos + 10_000])
            await writer.close()
        await asyncio.sleep(0.5)
    # our close() deleted the channel: pytrickle sees Lp-Trickle-Closed and stops by itself
    await finish(proc)
    files = sorted(tmp_path.iterdir(), key=lambda p: int(p.name))
    assert [p.name for p in files] == [str(i) for i in range(len(SIZES))]
    assert [p.read_bytes() for p in files] == sent


async def test_pytrickle_subscriber_follows_latest_after_470(logged, tmp_path):
    base, seen = logged
    async with TricklePublisher(base + "ch") as pub:
        for i in range(8):
            await pub.write_segment(f"old{i}".encode())
        proc = await run_pytrickle(SUBSCRIBE, base + "ch", "0", "1", str(tmp_path))
        await wait_for_request(seen, "GET /ch/8")  # pytrickle: GET 0 → 470 → Lp-Trickle-Latest
        await pub.write_segment(b"live")
        await finish(proc)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == {"8": b"live"}


async def test_peer_is_pytrickle_from_pypi() -> None:
    code = "import importlib.metadata as m; print(m.version('pytrickle'))"
    proc = await asyncio.create_subprocess_exec(
        str(PYTRICKLE), "-c", code, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert out.decode().strip() == "0.1.6"
