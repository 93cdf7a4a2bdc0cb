"""The runner contract's handlers (``/health``, ``/version``, ``/hardware/*``,
``POST /live-video-to-video``) and the state every route group shares (docs/runner.md).

``RunnerAPI`` holds the :class:`StreamManager`, the configuration and what an operator wants to
see on the status page: when the orchestrator last probed ``/health``, ``/version`` and
``/hardware/*`` and what it was told.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .. import __version__, deps
from ..config import RunnerConfig
from ..errors import ValidationError
from ..session.manager import CapacityError, StreamManager
from ..session.request import StartRequest, parse_start_request
from .hardware import HardwareProbe
from .http import ApiError, check_token, json_ok, read_json, validation_error
from .probes import ProbeLog

log = logging.getLogger(__name__)

PIPELINE = "live-video-to-video"


class RunnerAPI:
    def __init__(
        self,
        manager: StreamManager,
        config: RunnerConfig | None = None,
        *,
        version: str = __version__,
        hardware: HardwareProbe | None = None,
        readiness: Callable[[], str | None] | None = None,
    ) -> None:
        """``readiness``: returns a /health value that overrides the streams' (e.g. ``"LOADING"``
        while the host application is still starting), or None."""
        self.manager = manager
        self.config = config or manager.config
        self.version = version
        self.hardware = hardware or HardwareProbe()
        self.readiness = readiness
        self.probe_log = ProbeLog()
        self.probes: dict[str, dict[str, Any]] = self.probe_log.by_path  # path -> last probe
        self.last_start: dict[str, Any] | None = None
        self.started_at = time.time()
        # a package older than its floor (logged once): shown in /trickle/status, starts refused
        self.dependency_problems: list[str] = list(deps.problems())

    # --- shared helpers -----------------------------------------------------------------------
    def record_probe(self, request: web.Request, answer: Any) -> None:
        self.probe_log.record(request, answer, self.config.token)

    def advertised(self) -> dict[str, Any]:
        """What an orchestrator that probed us will advertise (status API, editor panel)."""
        return self.probe_log.advertised(
            self.config.model_id, self.version, bool(self.config.token)
        )

    def health_value(self) -> str:
        override = self.readiness() if self.readiness is not None else None
        return override or self.manager.health()

    async def start_stream(self, request: StartRequest) -> None:
        """Start through the manager; capacity → 500 ``insufficient capacity``."""
        self.last_start = {"time": int(time.time() * 1000), **request.summary()}
        if self.dependency_problems:
            raise ApiError(500, "; ".join(self.dependency_problems))
        try:
            await self.manager.start(request)
        except CapacityError as exc:
            raise ApiError(500, str(exc), capacity=exc.capacity, running=exc.running) from None
        except ValidationError as exc:  # e.g. a params.prompt graph this processor cannot run
            raise validation_error(exc, 400) from None

    def parse_start(self, body: Any, **kw: Any) -> StartRequest:
        """422 for a malformed request; 400 for a bad value inside ``params`` (the user's fault:
        a gateway then fails the stream instead of trying every other orchestrator)."""
        try:
            return parse_start_request(body, policy=self.config.channel_policy(), **kw)
        except ValidationError as exc:
            status = 400 if exc.field.startswith("params.") else 422
            raise validation_error(exc, status) from None

    # --- runner contract ----------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        answer = {"status": self.health_value()}
        self.record_probe(request, answer)
        return json_ok(answer)

    async def version_info(self, request: web.Request) -> web.Response:
        answer = {"pipeline": PIPELINE, "model_id": self.config.model_id, "version": self.version}
        self.record_probe(request, answer)
        return json_ok(answer)

    async def hardware_info(self, request: web.Request) -> web.Response:
        gpus = await self.hardware.info()
        answer = {"pipeline": PIPELINE, "model_id": self.config.model_id, "gpu_info": gpus}
        self.record_probe(request, answer)  # exactly what was sent
        return json_ok(answer)

    async def hardware_stats(self, request: web.Request) -> web.Response:
        gpus = await self.hardware.stats()
        answer = {"pipeline": PIPELINE, "model_id": self.config.model_id, "gpu_stats": gpus}
        self.record_probe(request, answer)
        return json_ok(answer)

    async def live_video_to_video(self, request: web.Request) -> web.Response:
        """Start a stream: 200 ``{}`` at once; the channels are connected afterwards."""
        check_token(request, self.config.token)
        body = await read_json(request, self.config.max_body_bytes)
        start = self.parse_start(body, source="runner")
        await self.start_stream(start)
        return json_ok({})
