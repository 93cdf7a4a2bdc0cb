"""Workflows on the standalone runner (no ComfyUI): ``--workflow`` / ``TRICKLE_WORKFLOW`` and a
start request's ``params.prompt`` / ``params.prompts``.

Inside ComfyUI any workflow runs. Without ComfyUI, ``python -m trickle runner`` runs the graphs it
can compute in plain Python: a frame source, at most one ``ImageInvert``, a frame sink — in any of
the spellings users bring (ours: ``TrickleInput``/``TrickleOutput``; ComfyStream's:
``LoadTensor``/``PrimaryInputLoadImage``/a sole ``LoadImage`` and ``SaveTensor``/``PreviewImage``/
``SaveImage``). Live parameter nodes (``TrickleParam*``) are allowed and ignored. Any other node is
refused with a :class:`ValidationError` naming it, so an operator learns at once that this graph
needs ComfyUI. A workflow is named by a processor name (``passthrough``, ``invert``), the name of a
bundled workflow (``api_workflows/<name>.api.json``) or a path to an API-format JSON file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from .processor import FrameProcessor
from .processors import PROCESSORS
from .request import StartRequest

# The bundled API-format workflows (what a stream runs): a folder ComfyUI does not scan for
# templates (it lists custom_nodes/*/{example_workflows,example,examples,workflow,workflows}/*.json),
# so they never show up in the Templates browser. Their UI-format twins, with thumbnails, are the
# pack's templates in EXAMPLES_DIR.
BUNDLED_DIR = Path(__file__).resolve().parents[2] / "api_workflows"
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "example_workflows"
SOURCES = ("TrickleInput", "LoadTensor", "PrimaryInputLoadImage", "LoadImage")
SINKS = ("TrickleOutput", "SaveTensor", "PreviewImage", "SaveImage")
EFFECTS = {"ImageInvert": "invert"}
EXPECTED = (
    "a graph the runner can compute without ComfyUI: frame source -> [ImageInvert] -> frame sink"
    " (other nodes need the pack inside ComfyUI)"
)


def _graph(value: Any, field: str) -> dict[str, Any]:
    """An API-format graph from an object, JSON text or ComfyStream's ``prompts`` list."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError(field, "an API-format workflow (JSON)", value[:80]) from None
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict) and "nodes" in value and "links" in value:
        raise ValidationError(field, "the API format (editor: Export (API))", "UI-format workflow")
    if not isinstance(value, dict) or not value:
        raise ValidationError(field, "an API-format workflow object", value)
    for nid, node in value.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            raise ValidationError(f"{field}.{nid}", "{class_type: str, inputs: {...}}", node)
    return value


def processor_for(workflow: Any, field: str = "workflow") -> str:
    """The plain processor (``passthrough`` or ``invert``) computing this graph."""
    graph = _graph(workflow, field)
    kinds: dict[str, list[str]] = {"source": [], "sink": [], "effect": []}
    for nid, node in graph.items():
        cls = node["class_type"]
        if cls in SOURCES:
            kinds["source"].append(nid)
        elif cls in SINKS:
            kinds["sink"].append(nid)
        elif cls in EFFECTS:
            kinds["effect"].append(nid)
        elif not cls.startswith("TrickleParam"):
            raise ValidationError(field, EXPECTED, f"node {nid} ({cls})")
    if len(kinds["source"]) != 1 or not kinds["sink"] or len(kinds["effect"]) > 1:
        counts = ", ".join(f"{len(v)} {k}" for k, v in kinds.items())
        raise ValidationError(field, EXPECTED, counts)
    if not kinds["effect"]:
        return "passthrough"
    return EFFECTS[graph[kinds["effect"][0]]["class_type"]]


def resolve(value: str) -> tuple[str, str]:
    """``(processor name, where it came from)`` for a ``--workflow`` / ``TRICKLE_WORKFLOW`` value."""
    value = value.strip()
    if value in PROCESSORS:
        return value, f"processor {value}"
    bundled = BUNDLED_DIR / f"{value}.api.json"
    if "/" not in value and bundled.is_file():
        return processor_for(json.loads(bundled.read_text()), "workflow"), f"bundled {value}"
    path = Path(value).expanduser()
    if not path.is_file():
        names = ", ".join(sorted({*PROCESSORS, *_bundled_names()}))
        raise ValidationError("workflow", f"a workflow file or one of: {names}", value)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValidationError("workflow", "a readable JSON file", f"{path}: {exc}") from None
    return processor_for(data, "workflow"), f"file {path}"


def _bundled_names() -> list[str]:
    return [p.name[: -len(".api.json")] for p in BUNDLED_DIR.glob("*.api.json")]


def workflow_factory(default: str = "passthrough") -> Callable[[StartRequest], FrameProcessor]:
    """A manager factory: the stream's ``params.prompt(s)`` graph when it has one, else
    ``default``. A graph that cannot run here raises ValidationError (the start answers 400)."""
    if default not in PROCESSORS:
        raise ValidationError("processor", "|".join(PROCESSORS), default)

    def make(request: StartRequest) -> FrameProcessor:
        name = default
        for key in ("prompt", "prompts"):
            value = request.params.get(key)
            if isinstance(value, (dict, list)) or (
                isinstance(value, str) and value.lstrip()[:1] in ("{", "[")
            ):
                name = processor_for(value, f"params.{key}")
                break
        return PROCESSORS[name]()

    return make
