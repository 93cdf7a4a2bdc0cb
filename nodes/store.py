"""Saved live workflows and workflow selection (docs/comfyui.md). No ComfyUI import.

Saved workflows live in ComfyUI's user directory (``<user dir>/default/trickle-live/workflows``),
never inside the pack folder, so updating the pack keeps them. The bundled examples are read from
the pack's ``api_workflows/`` folder (``<name>.api.json``; ``BUNDLED_DIR``).

Selection, first match wins: ``params.prompt`` (or comfystream's ``prompts``) in the start request;
a saved workflow named like the request's ``model_id``; a bundled one of that name; the default live
workflow (set from the editor, else ``TRICKLE_WORKFLOW``: a saved/bundled name or a JSON file path);
the bundled passthrough.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from ..trickle.errors import ValidationError
from ..trickle.session.workflow_spec import BUNDLED_DIR
from .graph import Workflow, looks_like_workflow, parse_workflow

log = logging.getLogger(__name__)

PASSTHROUGH = "passthrough"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            "name", "1-100 characters of A-Z a-z 0-9 . _ - (not first: . _ -)", name
        )
    return name


def bundled_names() -> list[str]:
    return sorted(p.name[: -len(".api.json")] for p in BUNDLED_DIR.glob("*.api.json"))


def load_bundled(name: str) -> Workflow | None:
    path = BUNDLED_DIR / f"{name}.api.json"
    if not _NAME.match(name) or not path.is_file():
        return None
    return parse_workflow(json.loads(path.read_text()), f"{BUNDLED_DIR.name}/{path.name}")


class WorkflowStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}.json"

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.json") if _NAME.match(p.stem))

    def get(self, name: str) -> Workflow | None:
        path = self._path(name)
        if not path.is_file():
            return None
        return parse_workflow(json.loads(path.read_text()), f"saved workflow {name}")

    def save(self, name: str, workflow: Any) -> Workflow:
        parsed = parse_workflow(workflow)
        self._write(self._path(name), parsed)
        return parsed

    def delete(self, name: str) -> bool:
        path = self._path(name)
        if not path.is_file():
            return False
        path.unlink()
        if self.default_name() == name:
            self.set_default(None)
        return True

    def default_name(self) -> str | None:
        settings = self.root / "_settings" / "default.json"
        try:
            name = json.loads(settings.read_text()).get("default")
        except (OSError, ValueError):
            return None
        return name if isinstance(name, str) else None

    def set_default(self, name: str | None) -> None:
        if name is not None:
            check_name(name)
            if self.get(name) is None and load_bundled(name) is None:
                raise ValidationError("default", "the name of a saved or bundled workflow", name)
        self._write(self.root / "_settings" / "default.json", {"default": name})

    def _write(self, path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)


def find_named(name: str, store: WorkflowStore | None) -> Workflow | None:
    """A saved workflow of that name, else a bundled one, else None."""
    if not name or not _NAME.match(name):
        return None
    saved = store.get(name) if store is not None else None
    return saved if saved is not None else load_bundled(name)


def _configured_default(value: str, store: WorkflowStore | None) -> tuple[Workflow, str] | None:
    """``TRICKLE_WORKFLOW`` (``RunnerConfig.workflow``): a saved or bundled name, or a file."""
    value = value.strip()
    if not value:
        return None
    found = find_named(value, store)
    if found is not None:
        return found, f"TRICKLE_WORKFLOW={value}"
    path = Path(value).expanduser()
    if path.is_file():
        return parse_workflow(json.loads(path.read_text()), "TRICKLE_WORKFLOW"), f"file {path}"
    log.warning("TRICKLE_WORKFLOW=%s names no saved workflow or file; ignored", value)
    return None


def select_workflow(
    params: dict[str, Any] | None,
    model_id: str | None,
    store: WorkflowStore | None,
    configured: str = "",
) -> tuple[Workflow, str]:
    """The workflow a new stream runs, and where it came from (for events and logs);
    ``configured``: ``RunnerConfig.workflow`` (``TRICKLE_WORKFLOW``)."""
    params = params or {}
    for key in ("prompt", "prompts"):
        if looks_like_workflow(params.get(key)):
            return parse_workflow(params[key], f"params.{key}"), f"params.{key}"
    if model_id:
        found = find_named(model_id, store)
        if found is not None:
            return found, f"workflow named like model_id {model_id!r}"
    default = store.default_name() if store is not None else None
    if default:
        found = find_named(default, store)
        if found is not None:
            return found, f"default live workflow {default!r}"
    from_config = _configured_default(configured, store)
    if from_config is not None:
        return from_config
    bundled = load_bundled(PASSTHROUGH)
    if bundled is None:
        raise ValidationError(
            "workflow", f"{BUNDLED_DIR.name}/{PASSTHROUGH}.api.json in the pack", None
        )
    return bundled, "bundled passthrough"
