"""Write the UI-format twin ``example_workflows/<name>.json`` (the pack's ComfyUI templates) of
each ``api_workflows/<name>.api.json`` (what a stream runs; a folder ComfyUI does not scan).

    python scripts/make-ui-workflows.py http://127.0.0.1:8188      # node info from a running ComfyUI
    python scripts/make-ui-workflows.py object_info.json

The editor opens the UI format (drag the file in); the API format is what a stream runs. Node
positions follow the graph depth; widget values come from the API file (defaults where linked).
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

WIDGETS = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
PACK = Path(__file__).resolve().parents[1]
API_DIR = PACK / "api_workflows"  # trickle/session/workflow_spec.py BUNDLED_DIR
UI_DIR = PACK / "example_workflows"  # ... EXAMPLES_DIR (thumbnails: test_web_templates.py)


def _is_link(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], int)


def _depths(api: dict[str, Any]) -> dict[str, int]:
    depth: dict[str, int] = {}

    def walk(nid: str) -> int:
        if nid not in depth:
            links = [v[0] for v in api[nid]["inputs"].values() if _is_link(v)]
            depth[nid] = 1 + max((walk(p) for p in links), default=-1)
        return depth[nid]

    for nid in api:
        walk(nid)
    return depth


def convert(api: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    depth, rows = _depths(api), {}
    links, nodes = [], []
    out_links: dict[tuple[str, int], list[int]] = {}
    for order, (nid, node) in enumerate(
        sorted(api.items(), key=lambda kv: (_depths(api)[kv[0]], int(kv[0])))
    ):
        spec = info[node["class_type"]]
        row = rows.setdefault(depth[nid], 0)
        rows[depth[nid]] += 1
        inputs, widgets = [], []
        for section in ("required", "optional"):
            for name in spec["input_order"].get(section, []):
                kind, opts = (spec["input"][section][name] + [{}])[:2]
                kind_name = "COMBO" if isinstance(kind, list) else kind
                value = node["inputs"].get(name)
                entry: dict[str, Any] = {"name": name, "type": kind_name, "link": None}
                if _is_link(value):
                    link_id = len(links) + 1
                    links.append(
                        [link_id, int(value[0]), value[1], int(nid), len(inputs), kind_name]
                    )
                    out_links.setdefault((value[0], value[1]), []).append(link_id)
                    entry["link"] = link_id
                if kind_name in WIDGETS:
                    if value is None or _is_link(value):
                        value = opts.get("default", kind[0] if isinstance(kind, list) else None)
                    widgets.append(value)
                    if opts.get("control_after_generate"):
                        widgets.append("fixed")
                    if entry["link"] is None:
                        continue
                    entry["widget"] = {"name": name}
                inputs.append(entry)
        outputs = [
            {"name": n, "type": t, "links": [], "slot_index": i}
            for i, (t, n) in enumerate(zip(spec["output"], spec["output_name"], strict=True))
        ]
        nodes.append(
            {
                "id": int(nid),
                "type": node["class_type"],
                "pos": [60 + 340 * depth[nid], 80 + 260 * row],
                "size": [300, 120 + 26 * len(widgets)],
                "flags": {},
                "order": order,
                "mode": 0,
                "inputs": inputs,
                "outputs": outputs,
                "properties": {"Node name for S&R": node["class_type"]},
                "widgets_values": widgets,
                "title": node.get("_meta", {}).get("title", node["class_type"]),
            }
        )
    for n in nodes:
        for o in n["outputs"]:
            o["links"] = out_links.get((str(n["id"]), o["slot_index"]), [])
    return {
        "last_node_id": max(n["id"] for n in nodes),
        "last_link_id": len(links),
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
        "version": 0.4,
    }


def main(source: str) -> int:
    if source.startswith("http"):
        with urllib.request.urlopen(source.rstrip("/") + "/object_info", timeout=60) as resp:
            info = json.load(resp)
    else:
        info = json.loads(Path(source).read_text())
    for path in sorted(API_DIR.glob("*.api.json")):
        ui = convert(json.loads(path.read_text()), info)
        target = UI_DIR / path.name.replace(".api.json", ".json")
        target.write_text(json.dumps(ui, indent=1) + "\n")
        sys.stdout.write(f"{target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8188"))
