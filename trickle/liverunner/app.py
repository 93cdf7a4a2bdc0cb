"""The live-runner app API (persistent mode): ``start``, ``update``, ``status``, ``stop``, ``health``.

An orchestrator reverse-proxies ``/apps/{route}/session/{sid}/app/<path>`` to ``runner_url + path``
with the session headers (:mod:`.session_control`). This app is served on its own port only
(:mod:`.site`), never on ComfyUI's. Replies are JSON; errors are ``{"detail": {"msg": ...}}``
(with ``field``/``expected``/``received`` for validation errors).

- ``POST start`` — body (all optional): ``model_id``, ``params`` (object or JSON string),
  ``workflow``/``prompt`` (becomes ``params.prompt``), ``width``, ``height``, ``fps``/
  ``max_framerate``. Opens ``in``/``out``/``events``/``control`` through the orchestrator, starts
  the stream on the shared engine with the channels' ``internal_url`` when present, and answers
  the **public** URLs: ``publish_url`` (client → ``in``), ``subscribe_url`` (``out`` → client),
  ``events_url``, ``control_url`` and ``channels``. 409 when every slot is taken.
- ``POST update`` — the engine's update parser, answered synchronously: 200 with what was
  applied, 400 naming the field, 404 without a running session.
- ``GET status`` — the session's state (no URL, no token); without session headers the runner's.
- ``POST stop`` — stop, delete the channels, self-release; 200.
- ``GET health`` — ``{"status": IDLE|LOADING|OK|ERROR}``; 503 only while warming or broken *and*
  no session runs (a static orchestrator releases sessions of an unhealthy runner).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from ..errors import TrickleError, ValidationError
from ..jsonsafe import JsonInputError, json_response, loads
from ..runner.http import end_broken_body
from ..runner.json_errors import http_status, json_errors_middleware
from ..session.manager import CapacityError, StreamManager
from ..session.request import parse_params, parse_start_request
from .config import LiveRunnerConfig
from .session_control import Channel, SessionControl, SessionHeaders
from .sessions import CHANNELS, LiveSession, SessionTable

log = logging.getLogger(__name__)

SIZE_FIELDS = ("width", "height", "fps", "max_framerate")


def error(status: int, msg: str, **extra: Any) -> web.Response:
    return json_response({"detail": {"msg": msg, **extra}}, status=status)


def parse_start_body(body: Any, default_model: str) -> tuple[str, dict[str, Any]]:
    """``(model_id, params)`` from a start body; raises ValidationError naming the field."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ValidationError("body", "a JSON object", body)
    params = parse_params(body.get("params"), "params")
    workflow = body.get("workflow", body.get("prompt"))
    if workflow is not None and "prompt" not in params:
        params["prompt"] = workflow
    for name in SIZE_FIELDS:
        if name in body and name not in params:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValidationError(name, "a positive number", value)
            params[name] = value
    model_id = body.get("model_id") or default_model
    if not isinstance(model_id, str) or len(model_id) > 256:
        raise ValidationError("model_id", "a string of at most 256 characters", model_id)
    return model_id, params


async def read_json(request: web.Request, limit: int = 4 << 20) -> Any:
    try:
        raw = await request.content.read(limit + 1)
    except RequestPayloadError as exc:  # e.g. Content-Encoding: gzip on bytes that are not
        end_broken_body(request)
        raise ValidationError("body", "a readable body", " ".join(str(exc).split())) from None
    if len(raw) > limit:
        raise ValidationError("body", f"at most {limit} bytes", len(raw))
    if not raw.strip():
        return None
    try:
        return loads(raw)
    except JsonInputError as exc:  # NaN, 1e999, deep nesting and huge integers included
        raise ValidationError("body", "JSON", str(exc)) from None


class LiveRunnerApp:
    """Handlers of the app API over one shared :class:`StreamManager`."""

    def __init__(
        self,
        cfg: LiveRunnerConfig,
        manager: StreamManager,
        http: Any,
        *,
        warming: Callable[[], bool] = lambda: False,
        on_change: Callable[[], None] = lambda: None,
        status_extra: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.cfg = cfg
        self.manager = manager
        self._http = http  # aiohttp.ClientSession for orchestrator callbacks (owned by the caller)
        self._warming = warming
        self._status_extra = status_extra
        self.sessions = SessionTable(manager, idle_timeout=cfg.idle_timeout, on_change=on_change)
        self.refused_busy = 0

    def make_app(self) -> web.Application:
        # aiohttp's own answers (404, 405, 413, 417) as JSON too, with their status
        app = web.Application(
            client_max_size=4 << 20, middlewares=[json_errors_middleware(http_status)]
        )
        p = self.cfg.prefix
        app.router.add_post(f"{p}/start", self.start)
        app.router.add_post(f"{p}/update", self.update)
        app.router.add_get(f"{p}/status", self.status)
        app.router.add_post(f"{p}/stop", self.stop)
        app.router.add_get(f"{p}/health", self.health)
        return app

    # -- state ------------------------------------------------------------------------------

    def health_state(self) -> str:
        if self._warming() and not len(self.sessions):
            return "LOADING"
        return self.manager.health()

    def runner_status(self) -> str:
        """``loading`` while warming with no session; ``ready`` otherwise (see docs/liverunner.md:
        a non-ready runner's proxied calls and callbacks are refused by the orchestrator)."""
        if len(self.sessions):
            return "ready"
        return "loading" if self.health_state() in ("LOADING", "ERROR") else "ready"

    # -- handlers ---------------------------------------------------------------------------

    async def start(self, request: web.Request) -> web.Response:
        try:
            headers = self._session_headers(request)
            model_id, params = parse_start_body(await read_json(request), self.cfg.model_id)
        except ValidationError as exc:
            return error(400, str(exc), **exc.as_dict())
        sid = headers.session_id
        if sid in self.sessions:
            return error(409, f"session {sid} is already started")
        if len(self.sessions) >= self.cfg.capacity:
            self.refused_busy += 1
            return error(409, f"busy: {len(self.sessions)}/{self.cfg.capacity} sessions running")
        session = LiveSession(
            sid, SessionControl(headers, self._http, timeout=self.cfg.start_timeout)
        )
        self.sessions.add(session)  # the slot is taken before the first await
        try:
            session.channels = await session.control.create_channels(CHANNELS)
            stream_request = parse_start_request(
                self._stream_body(session.channels, model_id, params, sid),
                host_allowed=self.manager.config.host_allowed,
                source="live-runner",
            )
            stream = await self.manager.start(stream_request)
        except CapacityError as exc:
            await self.sessions.end(sid, "engine busy")
            self.refused_busy += 1
            return error(409, f"busy: {exc}")
        except ValidationError as exc:
            await self.sessions.end(sid, f"start refused: {exc}")
            return error(400, str(exc), **exc.as_dict())
        except TrickleError as exc:
            await self.sessions.end(sid, f"start failed: {exc}")
            return error(502, f"opening channels at the orchestrator failed: {exc}")
        self.sessions.running(session, stream)
        log.info("live session %s started (model %s)", sid, model_id)
        return json_response(self._start_reply(session, model_id))

    async def update(self, request: web.Request) -> web.Response:
        try:
            sid = self._session_id(request)
            params = parse_params(await read_json(request), "body")
        except ValidationError as exc:
            return error(400, str(exc), **exc.as_dict())
        session = self.sessions.get(sid) if sid else None
        if session is None or session.stream is None or session.state != "running":
            return error(404, "no running session" + (f" {sid}" if sid else ""))
        try:
            applied = await self.manager.update(sid, params, source="live-runner")
        except ValidationError as exc:
            return error(400, f"update refused: {exc}", **exc.as_dict())
        except TrickleError as exc:
            return error(404, str(exc))
        return json_response({"session_id": sid, "applied": applied})

    async def status(self, request: web.Request) -> web.Response:
        sid = self._session_id(request)
        session = self.sessions.get(sid) if sid else None
        if sid and session is None:
            return error(404, f"no session {sid}")
        body: dict[str, Any] = {
            "status": self.health_state(),
            "runner_status": self.runner_status(),
        }
        if session is not None:
            body["session"] = session.public()
        else:
            body.update(
                capacity=self.cfg.capacity,
                sessions=[s.public() for s in self.sessions.all()],
                **self._status_extra(),
            )
        return json_response(body)

    async def stop(self, request: web.Request) -> web.Response:
        sid = self._session_id(request)
        if not sid:
            return error(400, "the Livepeer-Session-Id header is required")
        if sid in self.sessions:
            await self.sessions.end(sid, "stopped by the client")
            return json_response({"session_id": sid, "stopped": True})
        try:  # not ours (already ended, or never started): still free the orchestrator's slot
            headers = self._session_headers(request)
            await SessionControl(headers, self._http, timeout=self.cfg.start_timeout).stop()
        except (ValidationError, TrickleError) as exc:
            log.info("stop for unknown session %s: %s", sid, exc)
        return json_response({"session_id": sid, "stopped": False})

    async def health(self, request: web.Request) -> web.Response:
        state = self.health_state()
        code = 503 if state in ("LOADING", "ERROR") and not len(self.sessions) else 200
        body = {"status": state, "sessions": len(self.sessions), "capacity": self.cfg.capacity}
        return json_response(body, status=code)

    # -- helpers ----------------------------------------------------------------------------

    def _session_id(self, request: web.Request) -> str:
        return (request.headers.get("Livepeer-Session-Id") or "").strip()

    def _session_headers(self, request: web.Request) -> SessionHeaders:
        headers = SessionHeaders.from_headers(request.headers)
        host = urlsplit(headers.control_url).hostname
        if not self.cfg.control_host_allowed(host):
            raise ValidationError("Livepeer-Session-Control", "a URL on an allowed host", host)
        return headers

    @staticmethod
    def _stream_body(
        channels: dict[str, Channel], model_id: str, params: dict[str, Any], sid: str
    ) -> dict[str, Any]:
        return {
            "subscribe_url": channels["in"].runner_url,
            "publish_url": channels["out"].runner_url,
            "events_url": channels["events"].runner_url,
            "control_url": channels["control"].runner_url,
            "model_id": model_id,
            "params": params,
            "stream_id": sid,
        }

    @staticmethod
    def _start_reply(session: LiveSession, model_id: str) -> dict[str, Any]:
        public = {name: ch.url for name, ch in session.channels.items()}
        return {
            "session_id": session.session_id,
            "model_id": model_id,
            "publish_url": public["in"],
            "subscribe_url": public["out"],
            "events_url": public["events"],
            "control_url": public["control"],
            "channels": public,
        }
