"""A local test stream inside ComfyUI (the editor's "try it"; the integration tests' probe):
generated frames go straight to the processor and its outputs are read back, with no trickle
channel and no codec in between (``nodes/local_stream.py``). The stream through the orchestrator's
path is ``loopback_stream.py``.

| method | path | does |
| --- | --- | --- |
| POST | /trickle/test-stream | start: {"workflow": name or API object, "seconds", "fps", "width", "height", "paced", "params", "wait"} |
| GET | /trickle/test-stream | the running (or last) test stream's figures |
| POST | /trickle/test-stream/update | a parameter update, as a gateway would send it |
| POST | /trickle/test-stream/stop | stop it; answers the figures |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..nodes.local_stream import LocalTestStream
from ..trickle.errors import ValidationError
from ..trickle.runner.http import ApiError, Handler, guarded, json_ok, read_json, validation_error
from ..trickle.session.processor import FrameProcessor

MAX_BODY = 8 << 20
Factory = Callable[[dict[str, Any], str], FrameProcessor]  # (params, model_id) -> processor


def _number(body: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise validation_error(ValidationError(key, f"a number in [{low}, {high}]", value), 422)
    return float(value)


class DirectStreamRoutes:
    def __init__(self, factory: Factory) -> None:
        self.factory = factory
        self.current: LocalTestStream | None = None

    async def start(self, request: web.Request) -> web.Response:
        body = await read_json(request, MAX_BODY, empty={})
        if not isinstance(body, dict):
            raise ApiError(400, "body: expected a JSON object")
        if self.current is not None and not self.current.done.is_set():
            raise ApiError(400, "a test stream is already running; stop it first")
        workflow = body.get("workflow")
        params = dict(body.get("params") or {})
        model_id = workflow if isinstance(workflow, str) else ""
        if isinstance(workflow, dict):
            params["prompt"] = workflow
        stream = LocalTestStream(
            self.factory(params, model_id),
            seconds=_number(body, "seconds", 5, 0.1, 600),
            fps=_number(body, "fps", 30, 1, 240),
            width=int(_number(body, "width", 512, 64, 4096)),
            height=int(_number(body, "height", 512, 64, 4096)),
            paced=bool(body.get("paced", True)),
        )
        self.current = stream
        stream.start()
        if body.get("wait"):
            return json_ok(await stream.wait(timeout=stream.seconds + 120))
        return json_ok({"started": True})

    def _stream(self) -> LocalTestStream:
        if self.current is None:
            raise ApiError(400, "no test stream has been started")
        return self.current

    async def status(self, request: web.Request) -> web.Response:
        return json_ok(self._stream().stats())

    async def update(self, request: web.Request) -> web.Response:
        stream = self._stream()
        body = await read_json(request, MAX_BODY)
        try:
            return json_ok(await stream.processor.update(body))
        except ValidationError as exc:
            raise validation_error(exc, 422) from None

    async def stop(self, request: web.Request) -> web.Response:
        return json_ok(await self._stream().stop())

    def specs(self, prefix: str = "/trickle") -> list[tuple[str, str, Handler]]:
        return [
            ("POST", f"{prefix}/test-stream", guarded(self.start)),
            ("GET", f"{prefix}/test-stream", guarded(self.status)),
            ("POST", f"{prefix}/test-stream/update", guarded(self.update)),
            ("POST", f"{prefix}/test-stream/stop", guarded(self.stop)),
        ]
