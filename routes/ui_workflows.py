"""The editor (UI-format) graphs of saved live workflows, so the panel can open them again.

The API format (what runs) is saved by ``routes/workflows.py``; this keeps the editor's own graph
beside it in ComfyUI's user directory (``<user dir>/default/trickle-live/workflows-ui``). Bundled
examples answer from the pack's ``example_workflows/<name>.json`` (its ComfyUI templates).

| method | path | does |
| --- | --- | --- |
| GET | /trickle/workflows-ui/{name} | ``{"name", "source": "saved"|"bundled", "graph"}`` |
| POST | /trickle/workflows-ui/{name} | body: the UI-format graph (a JSON object with ``nodes``) |
| DELETE | /trickle/workflows-ui/{name} | ``{"deleted": bool}`` |
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from ..nodes.store import check_name
from ..trickle.errors import ValidationError
from ..trickle.runner.http import ApiError, Handler, guarded, json_ok, read_json, validation_error
from ..trickle.session.workflow_spec import EXAMPLES_DIR

MAX_BODY = 16 << 20


class UiWorkflowStore:
    def __init__(self, root: Path, bundled: Path = EXAMPLES_DIR) -> None:
        self.root = Path(root)
        self.bundled = Path(bundled)

    def _path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}.json"

    def get(self, name: str) -> tuple[str, Any] | None:
        for source, path in (
            ("saved", self._path(name)),
            ("bundled", self.bundled / f"{name}.json"),
        ):
            if path.is_file():
                return source, json.loads(path.read_text())
        return None

    def save(self, name: str, graph: Any) -> None:
        if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
            raise ValidationError("graph", "a UI-format graph (an object with a nodes list)", graph)
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(graph))
        os.replace(tmp, path)

    def delete(self, name: str) -> bool:
        path = self._path(name)
        if not path.is_file():
            return False
        path.unlink()
        return True


class UiWorkflowRoutes:
    def __init__(self, store: UiWorkflowStore) -> None:
        self.store = store

    def _name(self, request: web.Request) -> str:
        try:
            return check_name(request.match_info["name"])
        except ValidationError as exc:
            raise validation_error(exc, 400) from None

    async def get(self, request: web.Request) -> web.Response:
        name = self._name(request)
        found = self.store.get(name)
        if found is None:
            raise ApiError(400, f"no editor graph saved for {name!r}")
        return json_ok({"name": name, "source": found[0], "graph": found[1]})

    async def save(self, request: web.Request) -> web.Response:
        name = self._name(request)
        if request.content_type != "application/json":
            raise ApiError(400, "Content-Type: expected application/json")
        try:
            self.store.save(name, await read_json(request, MAX_BODY))
        except ValidationError as exc:
            raise validation_error(exc, 422) from None
        return json_ok({"name": name})

    async def delete(self, request: web.Request) -> web.Response:
        return json_ok({"deleted": self.store.delete(self._name(request))})

    def specs(self, prefix: str = "/trickle") -> list[tuple[str, str, Handler]]:
        return [
            ("GET", f"{prefix}/workflows-ui/{{name}}", guarded(self.get)),
            ("POST", f"{prefix}/workflows-ui/{{name}}", guarded(self.save)),
            ("DELETE", f"{prefix}/workflows-ui/{{name}}", guarded(self.delete)),
        ]
