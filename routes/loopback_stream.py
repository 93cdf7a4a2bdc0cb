"""The editor's test stream, through the same path as an orchestrator's stream.

An in-process trickle server on loopback plays the orchestrator (four channels, the runner's own
``POST /trickle/runner/live-video-to-video``) and a gateway (publishes a generated test clip in
real time, sends parameter updates on the control channel, reads output and events). So what the
panel shows is the real stream session: its status, figures and preview frame
(``/trickle/streams/{stream_id}/frame.jpg``) come from the pack API like any other stream's.

| method | path | does |
| --- | --- | --- |
| POST | /trickle/live-test | start: ``{"workflow": name or API object or null, "seconds", "width", "height", "fps", "source"}`` |
| GET | /trickle/live-test | ``{"stream_id", "running", "published", "output_segments", "events", ...}`` |
| POST | /trickle/live-test/update | body: one parameter update, sent on the control channel |
| POST | /trickle/live-test/stop | end the input after the segment being sent (the runner stops the stream; no error); answers the figures |
| POST, GET | /trickle/live-test/clip | upload a video file / webcam recording (``upload_clip``); ``"source": "upload"`` streams it |
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..trickle.config import RunnerConfig
from ..trickle.media.testclip import make_test_clip, split_segments
from ..trickle.runner.http import ApiError, Handler, guarded, json_ok, read_json
from ..trickle.runner.simulator import NET_ERRORS, GatewayStream, LocalOrchestrator
from .upload_clip import Clip, ClipRoutes

log = logging.getLogger(__name__)

MAX_BODY = 8 << 20
RUNNER_PATH = "/trickle/runner"
LIMITS = {"seconds": (1, 600, 30), "width": (64, 1920, 384), "height": (64, 1080, 256)}
LIMITS["fps"] = (1, 60, 24)


def _int(body: dict[str, Any], key: str) -> int:
    low, high, default = LIMITS[key]
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ApiError(422, f"{key}: expected a number in [{low}, {high}]", received=value)
    return int(value)


STOP_GRACE = 8.0  # seconds: one segment (1 s) and the runner's end of the stream


class LoopbackStream:
    """One test stream: owns its orchestrator, its gateway and the task that publishes."""

    def __init__(
        self, runner_url: str, token: str, body: dict[str, Any], clip: Clip | None = None
    ) -> None:
        self.runner_url, self.token = runner_url, token
        self.seconds, self.fps = _int(body, "seconds"), _int(body, "fps")
        self.width, self.height = _int(body, "width") // 2 * 2, _int(body, "height") // 2 * 2
        self.clip = clip  # an uploaded file or webcam recording instead of the generated clip
        if clip is not None:
            self.fps, (self.width, self.height) = clip.fps, clip.size
            self.seconds = max(1, round(clip.frames / clip.fps))
        workflow = body.get("workflow")
        self.params: dict[str, Any] = dict(body.get("params") or {})
        self.model_id = workflow if isinstance(workflow, str) and workflow else "trickle-live-test"
        if isinstance(workflow, dict):
            self.params["prompt"] = workflow
        self.stream_id = "editor-test-" + secrets.token_hex(3)
        self.orch = LocalOrchestrator()
        self.gateway: GatewayStream | None = None
        self.published = 0
        self.started_at = time.monotonic()
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._stopping = False  # stop asked: the publisher ends the input after this segment

    async def start(self) -> None:
        """Channels, the start request (its refusal raises ApiError), then publish in the background."""
        try:
            await self.orch.start()
            channels = self.orch.create_channels()
            self.gateway = GatewayStream(channels)
            self.gateway.start_readers(keepalives=True)
            status, answer, _ = await self.orch.start_stream(
                self.runner_url, channels, self.params or None, token=self.token,
                stream_id=self.stream_id, model_id=self.model_id,
            )  # fmt: skip
        except BaseException:
            await self._close()
            raise
        if status != 200:
            await self._close()
            msg = answer.get("detail", {}).get("msg") if isinstance(answer, dict) else answer
            raise ApiError(400, f"the runner refused the test stream ({status}): {msg}")
        loop = asyncio.get_running_loop()
        self._publisher = loop.create_task(self._publish(), name=f"{self.stream_id} publish")
        self._task = loop.create_task(self._run(), name=self.stream_id)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        """Publish, end the input, wait for the output to end (``stop`` ends the publishing early)."""
        assert self._publisher is not None
        try:
            await self._publisher
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this task itself is being cancelled; cleanup below still runs
        except NET_ERRORS as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("trickle-live test stream %s: %s", self.stream_id, self.error)
        finally:
            await self._close()

    async def _publish(self) -> None:
        assert self.gateway is not None
        loop = asyncio.get_running_loop()
        clip = await loop.run_in_executor(None, self._make_clip)
        for segment in clip:
            if self._stopping:
                break
            await self.gateway.publish([(segment, 1.0)])
            self.published += 1
        await self.gateway.end_input()
        await self._wait_output_end(5.0 if self._stopping else 15.0)

    def _make_clip(self) -> list[bytes]:
        if self.clip is not None:
            return self.clip.segments
        data = make_test_clip(self.seconds, self.width, self.height, self.fps, preset="ultrafast")
        return split_segments(data)

    async def _wait_output_end(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.gateway is not None and self.gateway.output.end_reason is None:
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.1)

    async def update(self, message: dict[str, Any]) -> None:
        if self.gateway is None or not self.running:
            raise ApiError(400, "the test stream is not running")
        try:
            await self.gateway.send_control(message)
        except NET_ERRORS as exc:
            raise ApiError(500, f"control channel: {exc}") from None

    async def stop(self) -> None:
        """End the input after the segment being sent (a cut segment is a damaged frame to the
        runner's decoder: a normal stop is not an error); the runner stops the stream; channels and
        servers are closed. A publisher still busy after ``STOP_GRACE`` seconds is cancelled."""
        if self._task is None:
            await self._close()
            return
        self._stopping = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE)
            return
        except asyncio.TimeoutError:
            pass
        if self._publisher is not None:
            self._publisher.cancel()
        await asyncio.shield(self._task)

    async def _close(self) -> None:
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            with contextlib.suppress(*NET_ERRORS):
                await gateway.end_input()
            await asyncio.sleep(0.2)  # let the runner see the end and delete its channels
            await gateway.close()
            self._last = self._figures(gateway)
        await self.orch.close()

    def _figures(self, gateway: GatewayStream) -> dict[str, Any]:
        events = [event.get("event", event) for _, event in gateway.events[-20:]]
        return {
            "output_segments": gateway.output.segments,
            "output_bytes": len(gateway.output.data),
            "output_end": gateway.output.end_reason,
            "events": [_short_event(e) for e in events],
        }

    def figures(self) -> dict[str, Any]:
        live = self._figures(self.gateway) if self.gateway is not None else None
        return {
            "stream_id": self.stream_id,
            "model_id": self.model_id,
            "running": self.running,
            "seconds": self.seconds,
            "size": [self.width, self.height],
            "fps": self.fps,
            "published_segments": self.published,
            "age_s": round(time.monotonic() - self.started_at, 1),
            "error": self.error,
            **(live or getattr(self, "_last", {})),
        }


def _short_event(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        return {"type": "?"}
    keep = ("type", "msg", "message", "state", "error", "field", "expected", "received")
    return {k: event[k] for k in keep if k in event}


RunnerUrl = Callable[[web.Request], str]


def loopback_runner_url(request: web.Request) -> str:
    """The runner routes on the very socket this request came in on (ComfyUI's own port)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    host, port = (sockname[0], sockname[1]) if sockname else ("127.0.0.1", request.url.port)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
    return f"{request.scheme}://{host}:{port}{RUNNER_PATH}"


class LoopbackStreamRoutes:
    def __init__(
        self, config: Callable[[], RunnerConfig], runner_url: RunnerUrl = loopback_runner_url
    ) -> None:
        self.config = config
        self.runner_url = runner_url
        self.current: LoopbackStream | None = None
        self.clips = ClipRoutes()

    async def start(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            raise ApiError(400, "Content-Type: expected application/json")
        body = await read_json(request, MAX_BODY, empty={})
        if not isinstance(body, dict):
            raise ApiError(400, "body: expected a JSON object")
        if self.current is not None and self.current.running:
            await self.current.stop()  # one test stream at a time: a new one replaces it
        clip = None
        if body.get("source") == "upload":
            clip = self.clips.clip
            if clip is None:
                raise ApiError(400, "source: upload a clip first (POST /trickle/live-test/clip)")
        stream = LoopbackStream(self.runner_url(request), self.config().token, body, clip)
        await stream.start()
        self.current = stream
        return json_ok(stream.figures())

    def _stream(self) -> LoopbackStream:
        if self.current is None:
            raise ApiError(400, "no test stream has been started")
        return self.current

    async def status(self, request: web.Request) -> web.Response:
        if self.current is None:
            return json_ok({"running": False, "stream_id": None})
        return json_ok(self.current.figures())

    async def update(self, request: web.Request) -> web.Response:
        body = await read_json(request, MAX_BODY)
        if not isinstance(body, dict):
            raise ApiError(400, "body: expected one JSON object (a parameter update)")
        await self._stream().update(body)
        return json_ok({"sent": True})

    async def stop(self, request: web.Request) -> web.Response:
        stream = self._stream()
        await stream.stop()
        return json_ok(stream.figures())

    async def close(self) -> None:
        if self.current is not None:
            await self.current.stop()

    def specs(self, prefix: str = "/trickle") -> list[tuple[str, str, Handler]]:
        return [
            ("POST", f"{prefix}/live-test", guarded(self.start)),
            ("GET", f"{prefix}/live-test", guarded(self.status)),
            ("POST", f"{prefix}/live-test/update", guarded(self.update)),
            ("POST", f"{prefix}/live-test/stop", guarded(self.stop)),
            *self.clips.specs(prefix),
        ]
