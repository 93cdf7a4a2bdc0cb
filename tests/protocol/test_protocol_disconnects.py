"""Issue #15: a reader that disconnects is normal. The in-process server logs one debug line for
it, never a traceback: neither when a parked GET's client left just before its segment began
(the headers then meet a closed transport) nor when a reader drops mid-body."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.server import TrickleServer

from .conftest import serving

GONE = "went away"


@pytest.fixture
async def slow_poll_server() -> AsyncIterator[TrickleServer]:
    """The default disconnect poll (1 s): a parked GET notices its client left only then."""
    async with serving() as server:
        yield server


async def get_and_leave(base: str, seq: int, *, read: bool, reset: bool) -> None:
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(f"GET {parts.path}ch/{seq} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    if read:
        await reader.read(1000)
    await asyncio.sleep(0.05)
    if reset:  # an abortive close (RST), as a killed process leaves it
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.WARNING or r.exc_info is not None
    ]


async def test_a_reader_that_leaves_is_one_debug_line_never_a_traceback(
    slow_poll_server: TrickleServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base = slow_poll_server.url
    assert base is not None
    pub = TricklePublisher(base + "ch")
    try:
        await pub.write_segment(b"zero")
        for seq in (1, 2, 3):  # the GET waits for seq to begin; its client leaves; seq begins
            await get_and_leave(base, seq, read=False, reset=False)
            await asyncio.sleep(0.01)
            await pub.write_segment(b"x" * 1000)
            await asyncio.sleep(0.1)
        writer = await pub.next_segment()  # seq 4: a reader resets the connection mid-body
        await writer.write(b"x" * 100_000)
        await get_and_leave(base, 4, read=True, reset=True)
        for _ in range(20):  # the server writes on into the dead connection
            await writer.write(b"y" * 200_000)
            await asyncio.sleep(0.01)
        await writer.close()
    finally:
        await pub.close()
    assert problems(caplog) == []
    gone = [r for r in caplog.records if GONE in r.getMessage()]
    assert len(gone) == 4 and all(r.levelno == logging.DEBUG for r in gone), gone
