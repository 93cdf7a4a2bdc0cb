"""Fixtures for the protocol tests: a real in-process trickle server on loopback, a plain aiohttp
client, and a raw HTTP/1.1 client that sees what aiohttp hides (interim 1xx answers, the moment
headers arrive, chunk by chunk bodies)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import pytest
from trickle_live.trickle.protocol.server import TrickleServer


@asynccontextmanager
async def serving(**options: float) -> AsyncIterator[TrickleServer]:
    """A go-livepeer-like server (Autocreate off) on loopback, channel ``ch`` created."""
    srv = TrickleServer(**options)
    await srv.serve("127.0.0.1", 0)
    srv.create_channel("ch")
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
async def server() -> AsyncIterator[TrickleServer]:
    """The server with short intervals."""
    async with serving(continue_interval=0.2, disconnect_poll=0.05) as srv:
        yield srv


@pytest.fixture
def base(server: TrickleServer) -> str:
    assert server.url is not None
    return server.url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    interim: list[int] = field(default_factory=list)  # 1xx statuses seen before this one


class RawConnection:
    """One HTTP/1.1 connection driven by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.response: RawResponse | None = None
        self._chunked = False
        self._length: int | None = None

    async def send_head(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        all_headers = {"Transfer-Encoding": "chunked"} if method == "POST" else {}
        all_headers.update(headers or {})
        lines += [f"{k}: {v}" for k, v in all_headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def send_chunk(self, data: bytes) -> None:
        self.writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await self.writer.drain()

    async def end_body(self) -> None:
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()

    async def read_response(self, timeout: float = 5.0) -> RawResponse:
        """Headers of the final response; 1xx answers are counted in ``interim``."""
        interim: list[int] = []
        while True:
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            if 100 <= status < 200:
                interim.append(status)
                continue
            self.response = RawResponse(status, headers, interim)
            self._chunked = headers.get("transfer-encoding", "").lower() == "chunked"
            self._length = int(headers["content-length"]) if "content-length" in headers else None
            return self.response

    async def read_chunk(self, timeout: float = 5.0) -> bytes:
        """The next chunk of a chunked body; b"" at its end."""
        size_line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), timeout)
        size = int(size_line.strip().split(b";")[0], 16)
        data = await asyncio.wait_for(self.reader.readexactly(size + 2), timeout)
        return data[:-2]

    async def read_body(self, timeout: float = 5.0) -> bytes:
        if self._chunked:
            parts = []
            while chunk := await self.read_chunk(timeout):
                parts.append(chunk)
            return b"".join(parts)
        if self._length is not None:
            return await asyncio.wait_for(self.reader.readexactly(self._length), timeout)
        return await asyncio.wait_for(self.reader.read(), timeout)

    def close(self) -> None:
        self.writer.close()


RawFactory = Callable[[], Awaitable[RawConnection]]


@pytest.fixture
async def raw(base: str) -> AsyncIterator[RawFactory]:
    parts = urlsplit(base)
    opened: list[RawConnection] = []

    async def connect() -> RawConnection:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        conn = RawConnection(reader, writer)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()
        with contextlib.suppress(OSError):
            await conn.writer.wait_closed()


@pytest.fixture
def path(base: str) -> Callable[[str], str]:
    """``path("ch/0")`` → the request path under the server's base path."""
    prefix = urlsplit(base).path
    return lambda rest: prefix + rest


Handler = Callable[
    [str, dict[str, str], asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]
]


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked request body, read to its last chunk (for scripted handlers)."""
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        data = await reader.readexactly(size + 2)
        if size == 0:
            return body
        body += data[:-2]


async def accept_segment(request: str, writer: asyncio.StreamWriter) -> None:
    """Answer a segment POST ``request`` ("POST /ch/<seq>") with 200 and its seq, as the server."""
    seq = request.rsplit("/", 1)[1]
    writer.write(f"HTTP/1.1 200 OK\r\nLp-Trickle-Seq: {seq}\r\nContent-Length: 0\r\n\r\n".encode())
    await writer.drain()


@dataclass
class ScriptedServer:
    """A raw HTTP/1.1 server on loopback whose answers a test writes by hand (fault injection)."""

    url: str
    requests: list[str]


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Handler], Awaitable[ScriptedServer]]]:
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(handler: Handler) -> ScriptedServer:
        requests: list[str] = []

        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            tasks.add(asyncio.current_task())  # type: ignore[arg-type]
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target = lines[0].split()[:2]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
                }
                requests.append(f"{method} {target}")
                await handler(f"{method} {target}", headers, reader, writer)
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        srv = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        servers.append(srv)
        port = srv.sockets[0].getsockname()[1]
        return ScriptedServer(f"http://127.0.0.1:{port}/", requests)

    yield start
    for srv in servers:
        srv.close()
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for srv in servers:
        await srv.wait_closed()
