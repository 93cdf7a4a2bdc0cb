"""The live-runner app API (persistent mode): ``start``, ``update``, ``status``, ``stop``,
``health`` and ``schema``.

An orchestrator reverse-proxies ``/apps/{route}/session/{sid}/app/<path>`` to ``runner_url + path``
with the session headers (:mod:`.session_control`). This app is served on its own port only
(:mod:`.site`), never on ComfyUI's. Replies are JSON; errors are ``{"detail": {"msg": ...}}``
(with ``field``/``expected``/``received`` for validation errors).

Session-scoped calls (``update``, ``stop``, ``status`` with a session id) must carry the
``Livepeer-Session-Token`` the session was started with (the O derives it per session and sets it
on every proxied request): 403 otherwise, 404 for an unknown session.

- ``POST start`` — body (all optional): ``model_id``, ``params`` (object or JSON string),
  ``workflow``/``prompt`` (becomes ``params.prompt``), ``width``, ``height``, ``fps``/
  ``max_framerate`` (default: the configured picture). Opens ``in``/``out``/``events``/
  ``control`` through the orchestrator, starts the stream on the shared engine with the channels'
  ``internal_url`` when present, and answers the **public** URLs: ``publish_url`` (client →
  ``in``), ``subscribe_url`` (``out`` → client), ``events_url``, ``control_url`` and
  ``channels``. 409 when every slot is taken (after checking with the O that each running
  session is still held there), and the refused session is released at the O.
- ``POST update`` — the engine's update parser, answered synchronously: 200 with what was
  applied, 400 naming the field (an unknown parameter, a value out of range), 404 without a
  running session.
- ``GET status`` — the session's state (no URL, no token); without session headers the runner's.
- ``POST stop`` — stop the stream and release the session at the O (which closes its channels);
  200 with ``released``; 404 for a session we do not have (released at the O all the same).
- ``GET health`` — ``{"status": IDLE|LOADING|OK|ERROR}``; 503 only while warming or broken *and*
  no session runs (a static orchestrator releases sessions of an unhealthy runner).
- ``GET schema`` — the live parameters (name, type, default, min/max), workflow, picture and
  capacity: what a gateway needs to build a UI (public; also in the registration metadata).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from ..errors import TrickleError, ValidationError
from ..jsonsafe import JsonInputError, json_response, loads
from ..logtext import printable
from ..runner.http import end_broken_body
from ..runner.json_errors import http_status, json_errors_middleware
from ..session.manager import CapacityError, StreamManager
from ..session.request import parse_params, parse_start_request
from .config import LiveRunnerConfig
from .session_control import (
    SESSION_ID_HEADER,
    TOKEN_HEADER,
    Channel,
    SessionControl,
    SessionHeaders,
)
from .sessions import CHANNELS, LiveSession, SessionTable

log = logging.getLogger(__name__)

SIZE_FIELDS = ("width", "height", "fps", "max_framerate")
# update keys that are not live parameters: keepalives and lv2v-style fields every path ignores
PROTOCOL_KEYS = frozenset({"keep", "type", "request_id", "width", "height", "fps", "max_framerate"})


def error(status: int, msg: str, **extra: Any) -> web.Response:
    return json_response({"detail": {"msg": msg, **extra}}, status=status)


def parse_start_body(
    body: Any, default_model: str, video_defaults: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """``(model_id, params)`` from a start body; raises ValidationError naming the field.

    ``video_defaults`` (the runner's configured ``width``/``height``/``max_framerate``) apply
    when the body gives no size and no frame rate at all."""
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
    if video_defaults and not any(k in params for k in (*SIZE_FIELDS, "max_framerate")):
        params.update(video_defaults)
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
        describe: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.cfg = cfg
        self.manager = manager
        self._http = http  # aiohttp.ClientSession for orchestrator callbacks (owned by the caller)
        self._warming = warming
        self._status_extra = status_extra
        self._describe = describe
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
        app.router.add_get(f"{p}/schema", self.schema)
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
        if self._warming():
            return "loading"
        # a failed last stream (/health ERROR until the next start) must not refuse that start
        return (
            "loading"
            if self.manager.health(last_failure=False) in ("LOADING", "ERROR")
            else "ready"
        )

    # -- handlers ---------------------------------------------------------------------------

    async def start(self, request: web.Request) -> web.Response:
        try:
            headers = self._session_headers(request)
            model_id, params = parse_start_body(
                await read_json(request), self.cfg.model_id, self.cfg.video_defaults()
            )
        except ValidationError as exc:
            return error(400, str(exc), **exc.as_dict())
        sid = headers.session_id
        if sid in self.sessions:
            return error(409, f"session {sid} is already started")
        if len(self.sessions) >= self.cfg.capacity:
            await self.sessions.reclaim(lambda: len(self.sessions) >= self.cfg.capacity)
        if len(self.sessions) >= self.cfg.capacity:
            # The O reserved more sessions than we serve (its capacity or another path's
            # streams): this one can never run here, so give its slot back at once.
            self.refused_busy += 1
            busy = f"busy: {len(self.sessions)}/{self.cfg.capacity} sessions running"
            await self._release_refused(headers, busy)
            return error(409, busy)
        session = LiveSession(
            sid, SessionControl(headers, self._http, timeout=self.cfg.start_timeout)
        )
        self.sessions.add(session)  # the slot is taken before the first await
        try:
            session.channels = await session.control.create_channels(CHANNELS)
            stream_request = replace(
                parse_start_request(
                    self._stream_body(session.channels, model_id, params, sid),
                    host_allowed=self.manager.config.host_allowed,
                    source="live-runner",
                ),
                owns_channels=False,  # the O's: its release closes them
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
        log.info("live session %s started (model %s)", printable(sid), printable(model_id))
        return json_response(self._start_reply(session, model_id))

    async def update(self, request: web.Request) -> web.Response:
        session, refused = self._authorized(request)
        if refused is not None:
            return refused
        assert session is not None
        sid = session.session_id
        try:
            params = parse_params(await read_json(request), "body")
        except ValidationError as exc:
            return error(400, str(exc), **exc.as_dict())
        if session.stream is None or session.state != "running":
            return error(404, f"no running session {sid}")
        described = self._describe()
        if described.get("updates") == "named parameters":  # nothing else would be applied
            names = [p["name"] for p in described.get("params", [])]
            unknown = sorted(k for k in params if k not in names and k not in PROTOCOL_KEYS)
            if unknown:
                expected = f"a live parameter name ({', '.join(names) or 'none'})"
                return error(400, f"update refused: unknown parameter {unknown[0]!r}",
                             field=unknown[0], expected=expected, received=params[unknown[0]])  # fmt: skip
        try:
            applied = await self.manager.update(sid, params, source="live-runner")
        except ValidationError as exc:
            return error(400, f"update refused: {exc}", **exc.as_dict())
        except TrickleError as exc:
            return error(404, str(exc))
        return json_response({"session_id": sid, "applied": applied})

    async def status(self, request: web.Request) -> web.Response:
        session = None
        if self._session_id(request):
            session, refused = self._authorized(request)
            if refused is not None:
                return refused
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
                release_failures=self.sessions.release_failures,
                last_error=self.sessions.last_error,
                **self._status_extra(),
            )
        return json_response(body)

    async def stop(self, request: web.Request) -> web.Response:
        sid = self._session_id(request)
        if not sid:
            return error(400, "the Livepeer-Session-Id header is required", field=SESSION_ID_HEADER)
        if sid not in self.sessions:
            # The O still routes to a session we do not have (we restarted, or it already
            # ended): release its slot there, since only the O can, and say we had none.
            released = False
            try:
                headers = self._session_headers(request)
                control = SessionControl(headers, self._http, timeout=self.cfg.start_timeout)
                released = await control.stop()
            except (ValidationError, TrickleError) as exc:
                log.info("stop for unknown session %s: %s", printable(sid), exc)
            return json_response(
                {"detail": {"msg": f"no session {sid}"}, "released_at_orchestrator": released},
                status=404,
            )
        session, refused = self._authorized(request)
        if refused is not None:
            return refused
        await self.sessions.end(sid, "stopped by the client")
        ended = self.sessions.history[-1] if self.sessions.history else {}
        return json_response(
            {"session_id": sid, "stopped": True, "released": ended.get("released", "")}
        )

    def describe(self) -> dict[str, Any]:
        """What a gateway needs to build a UI without reading the graph (public, no secret)."""
        described = self._describe()
        return {
            "app": self.cfg.app,
            "model_id": self.cfg.model_id,
            "workflow": described.get("workflow", ""),
            "params": described.get("params", []),
            "updates": described.get("updates", ""),
            # None: the session follows its input (a start may ask for width/height/fps)
            "video": {
                "width": self.cfg.width or None,
                "height": self.cfg.height or None,
                "fps": self.cfg.fps or None,
            },
            "capacity": self.cfg.capacity,
        }

    async def schema(self, request: web.Request) -> web.Response:
        try:
            return json_response(self.describe())
        except Exception as exc:  # a broken workflow file must not take the route down
            log.exception("live runner: describing the live workflow failed")
            return error(500, f"describing the live workflow failed: {type(exc).__name__}")

    async def health(self, request: web.Request) -> web.Response:
        state = self.health_state()
        code = 503 if state in ("LOADING", "ERROR") and not len(self.sessions) else 200
        body = {"status": state, "sessions": len(self.sessions), "capacity": self.cfg.capacity}
        return json_response(body, status=code)

    # -- helpers ----------------------------------------------------------------------------

    def _session_id(self, request: web.Request) -> str:
        return (request.headers.get(SESSION_ID_HEADER) or "").strip()

    def _authorized(self, request: web.Request) -> tuple[LiveSession | None, web.Response | None]:
        """The session a request names, if its token is the one the session started with.

        No id → 400, unknown id → 404, missing or wrong ``Livepeer-Session-Token`` → 403 (the O
        always sends the token it derived for the session; anything else did not come through
        it for this session)."""
        sid = self._session_id(request)
        if not sid:
            return None, error(
                400, f"the {SESSION_ID_HEADER} header is required", field=SESSION_ID_HEADER
            )
        session = self.sessions.get(sid)
        if session is None:
            return None, error(404, f"no session {sid}")
        token = (request.headers.get(TOKEN_HEADER) or "").strip()
        if not token or not session.token_matches(token):
            return None, error(
                403,
                f"the {TOKEN_HEADER} header does not match session {sid}",
                field=TOKEN_HEADER,
                expected="the token the session was started with",
                received="(missing)" if not token else "(another token)",
            )
        return session, None

    def _session_headers(self, request: web.Request) -> SessionHeaders:
        headers = SessionHeaders.from_headers(request.headers)
        host = urlsplit(headers.control_url).hostname
        if not self.cfg.control_host_allowed(host):
            raise ValidationError("Livepeer-Session-Control", "a URL on an allowed host", host)
        return headers

    async def _release_refused(self, headers: SessionHeaders, why: str) -> None:
        """Release a session we refused before it had a record (so nothing else would)."""
        probe = LiveSession(headers.session_id, SessionControl(headers, self._http, timeout=5.0))
        probe.stop_reason = why
        await self.sessions.release(probe)

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
