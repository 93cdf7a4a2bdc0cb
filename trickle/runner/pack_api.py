"""The pack's own API under ``/trickle/`` (web UI, scripts): status, streams, stop, update, preview.

- ``GET  /trickle/status`` — health, streams (fps in/out, latency, drops, last error), the
  orchestrator's probes and what it will therefore advertise (``advertised``: health gate,
  capability name, runner version, who probed, checks to act on), effective configuration
  (secrets masked);
- ``GET  /trickle/streams`` — ``{"streams": [...]}``;
- ``POST /trickle/streams/{stream_id}/stop`` — ``{"stopped": bool}``; 202 ``{"stopped": false,
  "stopping": true, "running": [...]}`` when the stream has not ended within a second;
- ``POST /trickle/streams/{stream_id}/update`` — body: one parameter update; ``{"applied": {...}}``;
- ``GET  /trickle/streams/{stream_id}/frame.jpg`` and ``GET /trickle/frame.jpg`` (the only or the
  newest stream) — the latest output frame as JPEG; 204 when there is none yet. The frames are
  the stream's content: when a token is set, these need it (``Authorization: Bearer``).

Status and stream lists are open (the panel and probes read them without a token) and show channel
URLs only redacted (``scheme://host:port/…/abcd…``), never their userinfo: the full URLs are
served by no route at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..errors import MediaError, ValidationError
from ..media.jpeg import encode_jpeg
from ..session.manager import StreamNotFound
from ..session.request import parse_params
from ..session.session import StreamSession
from .api import RunnerAPI
from .http import ApiError, check_token, json_ok, read_json, validation_error


class PackRoutes:
    def __init__(self, api: RunnerAPI, *, protect: bool = True) -> None:
        """``protect``: require the bearer token (when one is configured) on stop and update."""
        self.api = api
        self.protect = protect
        self.sections: dict[str, Callable[[], Any]] = {}  # extra status sections (e.g. "byoc")

    def _auth(self, request: web.Request) -> None:
        if self.protect:
            check_token(request, self.api.config.token)

    def _session(self, stream_id: str | None) -> StreamSession:
        try:
            return self.api.manager.get(stream_id)
        except StreamNotFound as exc:
            raise ApiError(400, str(exc)) from None

    async def status(self, request: web.Request) -> web.Response:
        api, manager = self.api, self.api.manager
        body: dict[str, Any] = {
            "health": api.health_value(),
            "pipeline": "live-video-to-video",
            "model_id": api.config.model_id,
            "version": api.version,
            "uptime_s": round(time.time() - api.started_at, 1),
            "capacity": api.config.capacity,
            "streams": manager.list(),
            "streams_started": manager.started,
            "streams_preempted": manager.preempted,
            "last_error": manager.last_error,
            "last_start": api.last_start,
            "probes": api.probes,
            "advertised": api.advertised(),
            "recent": manager.history,
            "config": api.config.public(),
            "dependencies": {
                "ok": not api.dependency_problems,
                "problems": api.dependency_problems,
            },
        }
        for name, section in self.sections.items():
            body[name] = section()
        return json_ok(body)

    async def streams(self, request: web.Request) -> web.Response:
        return json_ok({"streams": self.api.manager.list()})

    async def stop(self, request: web.Request) -> web.Response:
        self._auth(request)
        stream_id = request.match_info["stream_id"]
        self._session(stream_id)
        result = await self.api.manager.stop(stream_id, reason="stopped through the API")
        status = 202 if result.found and not result.stopped else 200  # 202: still ending
        return web.json_response(result.as_dict(), status=status)

    async def update(self, request: web.Request) -> web.Response:
        self._auth(request)
        session = self._session(request.match_info["stream_id"])
        body = await read_json(request, self.api.config.max_body_bytes)
        try:
            applied = await session.update(parse_params(body, "body"), source="api")
        except ValidationError as exc:
            raise validation_error(exc, 400) from None
        return json_ok({"applied": applied})

    async def frame(self, request: web.Request) -> web.StreamResponse:
        check_token(request, self.api.config.token)  # the picture is the stream's content
        stream_id = request.match_info.get("stream_id")
        if stream_id:
            session = self._session(stream_id)
        else:
            sessions = self.api.manager.active()
            if not sessions:
                return web.Response(status=204)
            session = sessions[-1]
        frame = session.latest_frame()
        if frame is None:
            return web.Response(status=204)
        loop = asyncio.get_running_loop()
        try:
            data = await loop.run_in_executor(None, encode_jpeg, frame.image)
        except MediaError as exc:
            raise ApiError(500, str(exc)) from None
        headers = {"Cache-Control": "no-store", "X-Frame-Pts": str(frame.pts)}
        return web.Response(body=data, content_type="image/jpeg", headers=headers)
