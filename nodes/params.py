"""Parameter updates (docs/comfyui.md): classify, validate against node schemas, apply to a copy.

Accepted update shapes (one JSON object; ``{"keep": "alive"}`` is ignored):
- ``{"prompt": <workflow>}`` / ``{"prompts": ...}``: switch workflow (an object, or JSON text);
- ``{"<node id>": {"<input>": value, ...}}``: node-input patches;
- ``{"<name>": value}``: a named live parameter (``TrickleParam*`` nodes). ``{"prompt": "a cat"}``
  (text that is not a JSON object) is the live parameter named ``prompt``.

``Schemas`` maps a class type to its ``INPUT_TYPES()`` dict (what ``/object_info`` shows); inside
ComfyUI it comes from ``nodes.NODE_CLASS_MAPPINGS``, in tests from a plain dict.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..trickle.errors import ValidationError
from ..trickle.validation import boolean, choice, finite, in_range, integer, number, string
from .graph import PARAM_NODES, Workflow, is_link, live_params, looks_like_workflow, parse_workflow

Schemas = Callable[[str], dict[str, Any] | None]
IGNORED_KEYS = frozenset({"keep", "width", "height", "max_framerate", "fps", "type", "request_id"})


@dataclass
class Update:
    workflow: Workflow | None = None
    patches: dict[str, dict[str, Any]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def classify(update: dict[str, Any], current: Workflow) -> Update:
    """Split an update into a workflow switch and per-node patches (named params resolved)."""
    if not isinstance(update, dict):
        raise ValidationError("update", "a JSON object", update)
    result = Update()
    for key in ("prompt", "prompts"):
        if key in update and looks_like_workflow(update[key]):
            result.workflow = parse_workflow(update[key], key)
    if result.workflow is not None:
        current = result.workflow
    params = live_params(current)
    for key, value in update.items():
        if key in ("prompt", "prompts") and looks_like_workflow(value):
            continue
        if key in IGNORED_KEYS:
            result.ignored.append(key)
        elif key in current and isinstance(value, dict):
            result.patches.setdefault(key, {}).update(value)
        elif key in params:
            for nid in params[key]:
                result.patches.setdefault(nid, {})["value"] = value
        else:
            names = ", ".join(sorted(params)) or "none in this workflow"
            raise ValidationError(
                key, f"a node id of the workflow or a live parameter name ({names})", value
            )
    return result


def _input_spec(schema: dict[str, Any], name: str) -> tuple[Any, dict[str, Any]] | None:
    for section in ("required", "optional"):
        spec = schema.get(section, {}).get(name)
        if spec is not None:
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            return spec[0], opts
    return None


def _number(field_: str, kind: str, value: Any, opts: dict[str, Any]) -> int | float:
    if kind == "INT":
        value = integer(field_, value, whole_floats=True)
    else:
        value = finite(field_, number(field_, value))
    low, high = opts.get("min"), opts.get("max")
    in_range(field_, value, low, high)
    return int(value) if kind == "INT" else float(value)


def validate_value(field_: str, spec: tuple[Any, dict[str, Any]], value: Any) -> Any:
    """Check ``value`` against one input's declared type and range; returns the coerced value."""
    kind, opts = spec
    if isinstance(kind, list) or kind == "COMBO":
        return choice(field_, value, kind if isinstance(kind, list) else opts.get("options", []))
    if kind in ("INT", "FLOAT"):
        return _number(field_, kind, value, opts)
    if kind == "STRING":
        return string(field_, value)
    if kind == "BOOLEAN":
        return boolean(field_, value)
    raise ValidationError(field_, f"a link of type {kind} (not settable by an update)", value)


def _param_bounds(node: dict[str, Any]) -> dict[str, Any]:
    inputs = node.get("inputs", {})
    return {k: inputs[k] for k in ("min", "max") if isinstance(inputs.get(k), (int, float))}


def _patch_node(
    nid: str, node: dict[str, Any], changes: dict[str, Any], schemas: Schemas
) -> dict[str, Any]:
    schema = schemas(node["class_type"])
    if schema is None:
        raise ValidationError(f"{nid}", "a node whose type is installed", node["class_type"])
    applied = {}
    for name, value in changes.items():
        field_ = f"{nid}.{name}"
        spec = _input_spec(schema, name)
        if spec is None:
            raise ValidationError(field_, f"an input of {node['class_type']}", name)
        if is_link(node["inputs"].get(name)):
            raise ValidationError(field_, "a widget input (this one is linked)", value)
        value = validate_value(field_, spec, value)
        if node["class_type"] in PARAM_NODES and name == "value":
            param = node["inputs"].get("name", nid)
            value = validate_value(str(param), (spec[0], _param_bounds(node)), value)
        applied[name] = value
    return applied


def apply(current: Workflow, update: Update, schemas: Schemas) -> tuple[Workflow, dict[str, Any]]:
    """Validate every patch, then return the patched copy and what changed (node id → inputs).

    A workflow switch is applied first and the patches are checked against the new workflow. Nothing
    is changed unless everything validates.
    """
    base = update.workflow if update.workflow is not None else current
    applied: dict[str, Any] = {}
    for nid, changes in update.patches.items():
        if nid not in base:
            raise ValidationError(nid, "a node id of the workflow", nid)
        applied[nid] = _patch_node(nid, base[nid], changes, schemas)
    if not applied:
        return base, {}
    patched = copy.copy(base)
    for nid, changes in applied.items():
        node = dict(patched[nid])
        node["inputs"] = {**node.get("inputs", {}), **changes}
        patched[nid] = node
    return patched, applied
