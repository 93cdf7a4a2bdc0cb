"""An orchestrator and a gateway in one process, for the demo and the contract tests.

``LocalOrchestrator`` serves an in-process trickle server on loopback (``/ai/trickle/``), creates
a stream's four channels with the orchestrator's MIME types and calls the runner's ``POST
/live-video-to-video`` with exactly the nine fields an orchestrator sends (docs/runner.md).
``GatewayStream`` plays the gateway for one stream: publishes MPEG-TS segments to the input
channel (paced in real time), sends control messages and keepalives, and reads the output and
events channels, counting what arrives and when.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..errors import ChannelClosed, ChannelNotFound, TrickleError
from ..protocol.http import make_client_session
from ..protocol.publisher import TricklePublisher
from ..protocol.server import TrickleServer
from ..protocol.subscriber import TrickleSubscriber
from ..session.tasks import cancel_and_wait

log = logging.getLogger(__name__)

NET_ERRORS = (TrickleError, aiohttp.ClientError, OSError, asyncio.TimeoutError)


@dataclass
class Channels:
    mid: str
    base: str

    @property
    def input(self) -> str:
        return self.base + self.mid

    @property
    def output(self) -> str:
        return self.base + self.mid + "-out"

    @property
    def control(self) -> str:
        return self.base + self.mid + "-control"

    @property
    def events(self) -> str:
        return self.base + self.mid + "-events"

    def start_body(
        self, params: dict[str, Any] | None, stream_id: str, model_id: str
    ) -> dict[str, Any]:
        """The orchestrator's request body (the runner's point of view: subscribe = input)."""
        body: dict[str, Any] = {
            "subscribe_url": self.input,
            "publish_url": self.output,
            "control_url": self.control,
            "events_url": self.events,
            "model_id": model_id,
            "gateway_request_id": f"req-{self.mid}",
            "manifest_id": self.mid,
            "stream_id": stream_id,
        }
        if params is not None:
            body["params"] = params
        return body


class LocalOrchestrator:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = TrickleServer("/ai/trickle/")
        self.host, self.port = host, port
        self.base = ""
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        self.base = await self.server.serve(self.host, self.port)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self.base

    def create_channels(self, mid: str | None = None) -> Channels:
        mid = mid or secrets.token_hex(4)
        self.server.create_channel(mid, "video/MP2T")
        self.server.create_channel(f"{mid}-out", "video/MP2T")
        self.server.create_channel(f"{mid}-control", "application/json")
        self.server.create_channel(f"{mid}-events", "application/json")
        return Channels(mid, self.base)

    def close_channels(self, channels: Channels) -> None:
        """What an orchestrator does when the input ends: close all four channels."""
        for suffix in ("", "-out", "-control", "-events"):
            self.server.delete_channel(channels.mid + suffix)

    async def start_stream(
        self,
        runner_url: str,
        channels: Channels,
        params: dict[str, Any] | None = None,
        *,
        token: str = "",
        stream_id: str = "",
        model_id: str = "comfystream",
        path: str = "/live-video-to-video",
    ) -> tuple[int, Any, float]:
        """POST the start request; returns (status, decoded body, seconds taken)."""
        assert self.http is not None
        body = channels.start_body(params, stream_id or f"stream-{channels.mid}", model_id)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        began = time.monotonic()
        async with self.http.post(
            runner_url.rstrip("/") + path, json=body, headers=headers
        ) as resp:
            text = await resp.text()
            elapsed = time.monotonic() - began
            try:
                return resp.status, json.loads(text), elapsed
            except json.JSONDecodeError:
                return resp.status, text, elapsed

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
        await self.server.close()


@dataclass
class OutputLog:
    segments: int = 0
    data: bytearray = field(default_factory=bytearray)
    first_at: float | None = None
    last_at: float | None = None
    end_reason: str | None = None


class GatewayStream:
    """The gateway's side of one stream: input publisher, control publisher, output and events readers."""

    def __init__(self, channels: Channels, *, keepalive_interval: float = 10.0) -> None:
        self.channels = channels
        self.keepalive_interval = keepalive_interval
        self.http = make_client_session()
        self.input = TricklePublisher(channels.input, session=self.http)
        self.control = TricklePublisher(channels.control, "application/json", session=self.http)
        self.output = OutputLog()
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.started = time.monotonic()
        self._control_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []

    def start_readers(self, *, keepalives: bool = True) -> None:
        self._tasks.append(asyncio.create_task(self._read_output(), name="gateway output"))
        self._tasks.append(asyncio.create_task(self._read_events(), name="gateway events"))
        if keepalives:
            self._tasks.append(asyncio.create_task(self._keepalive(), name="gateway keepalive"))

    async def publish(
        self, segments: Iterable[tuple[bytes, float]], *, realtime: bool = True, pieces: int = 10
    ) -> int:
        """Publish (segment bytes, duration seconds) pairs; returns the count.

        ``realtime``: each segment is written in ``pieces`` parts spread over its duration, as a
        gateway's ingest produces it (bytes leave as the camera makes them); otherwise at once.
        """
        count = 0
        due = time.monotonic()
        for data, duration in segments:
            if not realtime:
                await self.input.write_segment(data)
            else:
                step = -(-len(data) // pieces)
                async with await self.input.next_segment() as writer:
                    for i in range(0, len(data), step):
                        await writer.write(data[i : i + step])
                        due += duration * step / len(data)
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
            count += 1
        return count

    async def send_control(self, message: dict[str, Any]) -> None:
        async with self._control_lock:
            await self.control.write_segment(json.dumps(message).encode())

    def event_types(self) -> list[str]:
        return [e.get("event", {}).get("type", "?") for _, e in self.events]

    async def end_input(self) -> None:
        """The gateway's ingest ended: DELETE the input channel."""
        await self.input.close(delete=True)

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        for publisher in (self.input, self.control):
            try:
                await publisher.close(delete=False)
            except NET_ERRORS as exc:
                log.debug("gateway close: %s", exc)
        await self.http.close()

    async def _read_output(self) -> None:
        async with TrickleSubscriber(self.channels.output, session=self.http, start_seq=0) as sub:
            async for segment in sub:
                async for chunk in segment.chunks():
                    now = time.monotonic()
                    self.output.first_at = self.output.first_at or now
                    self.output.last_at = now
                    self.output.data += chunk
                self.output.segments += 1
            self.output.end_reason = sub.end_reason

    async def _read_events(self) -> None:
        async with TrickleSubscriber(self.channels.events, session=self.http, start_seq=0) as sub:
            async for segment in sub:
                body = await segment.read_all(1 << 20)
                try:
                    self.events.append((time.monotonic(), json.loads(body)))
                except json.JSONDecodeError:
                    log.warning("gateway: event is not JSON: %r", body[:100])

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_interval)
            try:
                await self.send_control({"keep": "alive"})
            except (ChannelNotFound, ChannelClosed):
                return
