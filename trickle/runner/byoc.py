"""BYOC worker routes: ``POST /stream/start|params|stop``, ``GET /stream/status`` (docs/runner.md, BYOC worker).

The orchestrator sends ``X-Stream-Id`` on every call and ``Authorization: Bearer <token>`` when a
token was registered. Replies are JSON; errors use 400/401/422/500 like the runner routes. Avoid
401 unless the token really is wrong: a 401 makes the orchestrator unregister the capability.
"""

from __future__ import annotations

from aiohttp import web

from ..errors import ValidationError
from ..session.manager import StreamNotFound
from ..session.request import parse_params
from .api import RunnerAPI
from .http import ApiError, check_token, json_ok, read_body, read_json, validation_error

STREAM_HEADER = "X-Stream-Id"


class ByocRoutes:
    def __init__(self, api: RunnerAPI) -> None:
        self.api = api

    def _stream_id(self, request: web.Request) -> str | None:
        return request.headers.get(STREAM_HEADER) or request.query.get("stream_id") or None

    async def start(self, request: web.Request) -> web.Response:
        api = self.api
        check_token(request, api.config.token)
        body = await read_json(request, api.config.max_body_bytes)
        stream_id = self._stream_id(request)
        start = api.parse_start(
            body, required=("subscribe_url",), source="byoc", stream_id=stream_id
        )
        await api.start_stream(start)
        return json_ok({"status": "success", "stream_id": start.key})

    async def params(self, request: web.Request) -> web.Response:
        api = self.api
        check_token(request, api.config.token)
        body = await read_json(request, api.config.max_body_bytes)
        try:
            update = parse_params(body, "body")
            applied = await api.manager.update(self._stream_id(request), update, source="byoc")
        except StreamNotFound as exc:
            raise ApiError(400, str(exc)) from None
        except ValidationError as exc:
            raise validation_error(exc, 400) from None
        return json_ok({"status": "success", "applied": applied})

    async def stop(self, request: web.Request) -> web.Response:
        api = self.api
        check_token(request, api.config.token)
        await read_body(
            request, api.config.max_body_bytes
        )  # any body (JSON, text or none): ignored
        result = await api.manager.stop(self._stream_id(request), reason="BYOC stop call")
        if result.found and not result.stopped:  # still ending after STOP_WAIT_S: say what runs
            return web.json_response({"status": "stopping", **result.as_dict()}, status=202)
        return json_ok({"status": "success", **result.as_dict()})

    async def status(self, request: web.Request) -> web.Response:
        api = self.api
        check_token(request, api.config.token)
        stream_id = self._stream_id(request)
        if stream_id:
            try:
                return json_ok(api.manager.get(stream_id).snapshot())
            except StreamNotFound as exc:
                raise ApiError(400, str(exc)) from None
        return json_ok({"status": api.health_value(), "streams": api.manager.list()})
