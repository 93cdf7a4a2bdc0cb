"""API-format workflow handling without ComfyUI: parsing, comfystream-style graphs, live parameters.

An API-format workflow ("Export (API)" in the editor) is ``{"<node id>": {"class_type": str,
"inputs": {...}}}``; a link is ``["<node id>", <output slot>]``. The UI format (``nodes``/``links``)
cannot be queued and is refused with a clear message.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ..trickle.errors import ValidationError

INPUT_NODE = "TrickleInput"
OUTPUT_NODE = "TrickleOutput"
PARAM_NODES = {
    "TrickleParamText": "text",
    "TrickleParamFloat": "float",
    "TrickleParamInt": "int",
    "TrickleParamSeed": "seed",
    "TrickleParamBoolean": "boolean",
}
# comfystream's frame source/sink nodes, and what stands for them in a plain ComfyUI graph.
STREAM_INPUTS = ("LoadTensor", "PrimaryInputLoadImage")
STREAM_OUTPUTS = ("SaveTensor", "PreviewImage", "SaveImage")
FILE_OUTPUTS = ("PreviewImage", "SaveImage")

Workflow = dict[str, dict[str, Any]]


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def looks_like_workflow(value: Any) -> bool:
    """True for an object/list, or text that starts like JSON (``{"prompt": "a cat"}`` is text)."""
    if isinstance(value, (dict, list)):
        return bool(value)
    return isinstance(value, str) and value.lstrip()[:1] in ("{", "[")


def parse_workflow(value: Any, field: str = "prompt") -> Workflow:
    """An API-format workflow from an object or a JSON string; raises ValidationError otherwise."""
    expected = "an API-format workflow object (editor: Export (API)) or its JSON text"
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValidationError(field, expected, str(value)[:80]) from exc
    if isinstance(value, list):  # comfystream's `prompts`: the first workflow is used
        value = value[0] if value else None
    if isinstance(value, dict) and "nodes" in value and "links" in value:
        raise ValidationError(field, expected + " (this is the UI format)", "UI-format workflow")
    if not isinstance(value, dict) or not value:
        raise ValidationError(field, expected, value)
    for node_id, node in value.items():
        ok = isinstance(node, dict) and isinstance(node.get("class_type"), str)
        if not ok or not isinstance(node.get("inputs", {}), dict):
            raise ValidationError(f"{field}.{node_id}", "{class_type: str, inputs: {...}}", node)
    return copy.deepcopy(value)


def nodes_of(workflow: Workflow, *class_types: str) -> list[str]:
    return [nid for nid, node in workflow.items() if node["class_type"] in class_types]


def links_from(workflow: Workflow, node_id: str) -> list[tuple[str, str, int]]:
    """(consumer node id, input name, output slot) for every link leaving ``node_id``."""
    found = []
    for nid, node in workflow.items():
        for name, value in node.get("inputs", {}).items():
            if is_link(value) and value[0] == node_id:
                found.append((nid, name, value[1]))
    return found


def adapt(workflow: Workflow) -> tuple[Workflow, list[str]]:
    """Make a graph streamable: comfystream-style sources/sinks become Trickle nodes.

    Returns the adapted copy and notes (what was changed). Raises ValidationError when the graph
    has no frame source or no frame sink.
    """
    out = copy.deepcopy(workflow)
    notes: list[str] = []
    if not nodes_of(out, INPUT_NODE):
        sources = nodes_of(out, *STREAM_INPUTS) or nodes_of(out, "LoadImage")
        if len(sources) > 1 and not nodes_of(out, *STREAM_INPUTS):
            sources = []  # several LoadImage and no marker: ambiguous
        for nid in sources:
            used = [slot for _, _, slot in links_from(out, nid) if slot != 0]
            if used:
                raise ValidationError(
                    f"prompt.{nid}", "only the IMAGE output of the frame source used", "MASK output"
                )
            notes.append(f"node {nid} ({out[nid]['class_type']}) reads the stream")
            out[nid] = {"class_type": INPUT_NODE, "inputs": {}}
    if not nodes_of(out, INPUT_NODE):
        raise ValidationError("prompt", "a TrickleInput node (or one LoadImage)", "no frame source")
    if not nodes_of(out, OUTPUT_NODE):
        for nid in nodes_of(out, *STREAM_OUTPUTS):
            notes.append(f"node {nid} ({out[nid]['class_type']}) writes the stream")
            images = out[nid].get("inputs", {}).get("images")
            out[nid] = {"class_type": OUTPUT_NODE, "inputs": {"images": images}}
    else:
        for nid in nodes_of(out, *FILE_OUTPUTS):  # no PNG per frame during a stream
            notes.append(f"node {nid} ({out[nid]['class_type']}) skipped during the stream")
            del out[nid]
    if not nodes_of(out, OUTPUT_NODE):
        raise ValidationError("prompt", "a TrickleOutput node (or PreviewImage)", "no frame sink")
    return out, notes


def live_params(workflow: Workflow) -> dict[str, list[str]]:
    """Live parameter name → the ids of the parameter nodes carrying it."""
    found: dict[str, list[str]] = {}
    for nid, node in workflow.items():
        if node["class_type"] in PARAM_NODES:
            name = node.get("inputs", {}).get("name")
            if isinstance(name, str) and name:
                found.setdefault(name, []).append(nid)
    return found


SEED_MAX = 0xFFFFFFFFFFFFFFFF


def param_schema(workflow: Workflow) -> list[dict[str, Any]]:
    """The live parameters a gateway may set, sorted by name: ``name``, ``type`` (text, float,
    int, seed, boolean), ``default`` (the node's value) and, for numbers, ``min``/``max`` (the
    node's own bounds, which updates are checked against). One entry per name, however many
    nodes carry it (the first node's values)."""
    found: list[dict[str, Any]] = []
    for name, ids in sorted(live_params(workflow).items()):
        node = workflow[ids[0]]
        kind = PARAM_NODES[node["class_type"]]
        inputs = node.get("inputs", {})
        entry: dict[str, Any] = {"name": name, "type": kind, "default": inputs.get("value")}
        if kind in ("float", "int"):
            for bound in ("min", "max"):
                if isinstance(inputs.get(bound), (int, float)) and not is_link(inputs[bound]):
                    entry[bound] = inputs[bound]
        elif kind == "seed":
            entry.update(min=0, max=SEED_MAX)
        found.append(entry)
    return found


def describe(workflow: Workflow) -> dict[str, Any]:
    """A short summary for events and the status API."""
    params = live_params(workflow)
    return {
        "nodes": len(workflow),
        "params": {
            name: workflow[ids[0]]["inputs"].get("value") for name, ids in sorted(params.items())
        },
    }
