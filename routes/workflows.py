"""The pack's live-workflow API (needs ComfyUI only for validation, passed in as ``validate``).

| method | path | does |
| --- | --- | --- |
| GET | /trickle/workflows | saved and bundled names, the default |
| GET | /trickle/workflows/{name} | one workflow (saved first, else bundled) |
| POST | /trickle/workflows/{name} | save: body is the API-format workflow, or {"workflow", "default"} |
| DELETE | /trickle/workflows/{name} | delete a saved workflow |
| GET, POST | /trickle/default-workflow | read / set the default live workflow ({"name": str or null}) |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..nodes.graph import Workflow, adapt
from ..nodes.store import WorkflowStore, bundled_names, check_name, load_bundled
from ..trickle.errors import ValidationError
from ..trickle.runner.http import ApiError, Handler, guarded, json_ok, read_json, validation_error

Validate = Callable[[Workflow], Awaitable[Any]]
MAX_BODY = 8 << 20


class WorkflowRoutes:
    def __init__(self, store: WorkflowStore, validate: Validate | None = None) -> None:
        self.store = store
        self.validate = validate

    def _name(self, request: web.Request) -> str:
        try:
            return check_name(request.match_info["name"])
        except ValidationError as exc:
            raise validation_error(exc, 400) from None

    async def list_names(self, request: web.Request) -> web.Response:
        return json_ok(
            {
                "saved": self.store.names(),
                "bundled": bundled_names(),
                "default": self.store.default_name(),
            }
        )

    async def get(self, request: web.Request) -> web.Response:
        name = self._name(request)
        saved = self.store.get(name)
        workflow = saved if saved is not None else load_bundled(name)
        if workflow is None:
            raise ApiError(400, f"no saved or bundled workflow named {name!r}")
        return json_ok(
            {"name": name, "source": "saved" if saved else "bundled", "workflow": workflow}
        )

    async def save(self, request: web.Request) -> web.Response:
        name = self._name(request)
        body = await read_json(request, MAX_BODY)
        make_default = False
        if isinstance(body, dict) and "workflow" in body:
            make_default = bool(body.get("default", False))
            body = body["workflow"]
        try:
            workflow = self.store.save(name, await self._checked(body))
            if make_default:
                self.store.set_default(name)
        except ValidationError as exc:
            raise validation_error(exc, 422) from None
        return json_ok({"name": name, "nodes": len(workflow), "default": self.store.default_name()})

    async def _checked(self, body: Any) -> Workflow:
        from ..nodes.graph import parse_workflow

        workflow = parse_workflow(body)
        adapted, _ = adapt(workflow)  # streamable: has a frame source and sink
        if self.validate is not None:
            await self.validate(adapted)
        return workflow

    async def delete(self, request: web.Request) -> web.Response:
        return json_ok({"deleted": self.store.delete(self._name(request))})

    async def get_default(self, request: web.Request) -> web.Response:
        return json_ok({"name": self.store.default_name()})

    async def set_default(self, request: web.Request) -> web.Response:
        body = await read_json(request, MAX_BODY)
        if not isinstance(body, dict) or "name" not in body:
            raise ApiError(400, 'body: expected {"name": <workflow name> or null}')
        try:
            self.store.set_default(body["name"])
        except ValidationError as exc:
            raise validation_error(exc, 422) from None
        return json_ok({"name": self.store.default_name()})

    def specs(self, prefix: str = "/trickle") -> list[tuple[str, str, Handler]]:
        return [
            ("GET", f"{prefix}/workflows", guarded(self.list_names)),
            ("GET", f"{prefix}/workflows/{{name}}", guarded(self.get)),
            ("POST", f"{prefix}/workflows/{{name}}", guarded(self.save)),
            ("DELETE", f"{prefix}/workflows/{{name}}", guarded(self.delete)),
            ("GET", f"{prefix}/default-workflow", guarded(self.get_default)),
            ("POST", f"{prefix}/default-workflow", guarded(self.set_default)),
        ]
