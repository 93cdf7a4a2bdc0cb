"""Workflow parsing, comfystream-style graphs, selection, saved workflows, parameter updates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from trickle_live.nodes.graph import adapt, live_params, parse_workflow
from trickle_live.nodes.params import apply, classify, validate_value
from trickle_live.nodes.store import WorkflowStore, bundled_names, select_workflow
from trickle_live.trickle.errors import ValidationError
from trickle_live.trickle.session.workflow_spec import BUNDLED_DIR

ROOT = Path(__file__).resolve().parents[2]
BLUR = json.loads((BUNDLED_DIR / "blur.api.json").read_text())
SCHEMAS: dict[str, dict[str, Any]] = {
    "TrickleParamInt": {
        "required": {
            "name": ("STRING", {}),
            "value": ("INT", {"min": -100, "max": 100}),
            "min": ("INT", {}),
            "max": ("INT", {}),
        }
    },  # fmt: skip
    "TrickleParamFloat": {
        "required": {
            "name": ("STRING", {}),
            "value": ("FLOAT", {}),
            "min": ("FLOAT", {}),
            "max": ("FLOAT", {}),
        }
    },  # fmt: skip
    "ImageBlur": {
        "required": {
            "image": ("IMAGE", {}),
            "blur_radius": ("INT", {"min": 1, "max": 31}),
            "sigma": ("FLOAT", {"min": 0.1, "max": 10.0}),
        }
    },  # fmt: skip
    "TrickleInput": {"optional": {"test_width": ("INT", {"min": 64, "max": 4096})}},
    "TrickleOutput": {"required": {"images": ("IMAGE", {})}},
    "KSampler": {"required": {"sampler_name": (["euler", "lcm"], {}), "seed": ("INT", {"min": 0})}},
}


def schemas(class_type: str) -> dict[str, Any] | None:
    return SCHEMAS.get(class_type)


def test_parse_accepts_object_json_text_and_prompts_list() -> None:
    assert parse_workflow(BLUR) == BLUR
    assert parse_workflow(json.dumps(BLUR)) == BLUR
    assert parse_workflow([BLUR, {"x": 1}], "prompts") == BLUR


def test_parse_refuses_ui_format_and_garbage_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="UI format"):
        parse_workflow({"nodes": [], "links": []})
    with pytest.raises(ValidationError) as info:
        parse_workflow({"1": {"inputs": {}}}, "params.prompt")
    assert info.value.field == "params.prompt.1"
    with pytest.raises(ValidationError):
        parse_workflow("{not json")


def test_comfystream_graph_is_adapted() -> None:
    graph = {
        "1": {"class_type": "LoadTensor", "inputs": {}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveTensor", "inputs": {"images": ["2", 0]}},
    }
    out, notes = adapt(graph)
    assert out["1"]["class_type"] == "TrickleInput" and out["3"]["class_type"] == "TrickleOutput"
    assert out["3"]["inputs"] == {"images": ["2", 0]} and len(notes) == 2
    assert graph["1"]["class_type"] == "LoadTensor"  # the original is untouched


def test_sole_load_image_and_preview_are_stream_ends_but_its_mask_is_refused() -> None:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    out, _ = adapt(graph)
    assert [n["class_type"] for n in out.values()] == ["TrickleInput", "TrickleOutput"]
    graph["3"] = {"class_type": "MaskToImage", "inputs": {"mask": ["1", 1]}}
    with pytest.raises(ValidationError, match="MASK"):
        adapt(graph)


def test_file_outputs_are_dropped_when_trickle_output_exists_and_missing_ends_refused() -> None:
    graph = {**BLUR, "9": {"class_type": "SaveImage", "inputs": {"images": ["4", 0]}}}
    out, notes = adapt(graph)
    assert "9" not in out and "skipped" in notes[0]
    two_loads = {
        "1": {"class_type": "LoadImage", "inputs": {}},
        "2": {"class_type": "LoadImage", "inputs": {}},
    }
    with pytest.raises(ValidationError, match="frame source"):
        adapt(two_loads)
    with pytest.raises(ValidationError, match="frame sink"):
        adapt({"1": {"class_type": "TrickleInput", "inputs": {}}})


def test_live_params_found_by_name() -> None:
    assert live_params(BLUR) == {"radius": ["2"], "sigma": ["3"]}


def test_named_param_update_validated_against_the_node_bounds() -> None:
    update = classify({"radius": 9, "keep": "alive"}, BLUR)
    patched, applied = apply(BLUR, update, schemas)
    assert applied == {"2": {"value": 9}} and patched["2"]["inputs"]["value"] == 9
    assert BLUR["2"]["inputs"]["value"] == 4 and update.ignored == ["keep"]
    with pytest.raises(ValidationError) as info:
        apply(BLUR, classify({"radius": 50}, BLUR), schemas)  # node's own max is 31
    assert info.value.field == "radius" and info.value.received == 50


def test_node_patch_validated_against_the_schema() -> None:
    patched, applied = apply(BLUR, classify({"1": {"test_width": 256}}, BLUR), schemas)
    assert applied == {"1": {"test_width": 256}}
    for bad, field in (({"4": {"image": 1}}, "4.image"), ({"4": {"nope": 1}}, "4.nope"),
                       ({"3": {"value": "x"}}, "3.value"), ({"1": {"test_width": 1.5}}, "1.test_width")):  # fmt: skip
        with pytest.raises(ValidationError) as info:
            apply(BLUR, classify(bad, BLUR), schemas)
        assert info.value.field == field


def test_unknown_key_names_the_known_parameters() -> None:
    with pytest.raises(ValidationError) as info:
        classify({"strength": 0.3}, BLUR)
    assert "radius" in info.value.expected and info.value.field == "strength"


def test_prompt_text_is_a_parameter_a_prompt_object_a_switch() -> None:
    text = {"1": {"class_type": "TrickleParamText", "inputs": {"name": "prompt", "value": "a"}}}
    assert classify({"prompt": "a cat"}, text).patches == {"1": {"value": "a cat"}}
    switch = classify({"prompt": json.dumps(BLUR), "radius": 3}, text)
    assert switch.workflow == BLUR and switch.patches == {"2": {"value": 3}}


@pytest.mark.parametrize(
    ("spec", "value", "ok"),
    [
        (("INT", {"min": 0, "max": 5}), 5, True),
        (("INT", {}), True, False),
        (("INT", {}), 2.0, True),
        (("FLOAT", {"min": 0.0}), float("nan"), False),
        (("BOOLEAN", {}), 1, False),
        ((["a", "b"], {}), "b", True),
        (("COMBO", {"options": ["a"]}), "z", False),
        (("STRING", {}), 3, False),
    ],
)
def test_validate_value(spec: Any, value: Any, ok: bool) -> None:
    if ok:
        validate_value("f", spec, value)
    else:
        with pytest.raises(ValidationError):
            validate_value("f", spec, value)


def test_selection_order(tmp_path: Path) -> None:
    store = WorkflowStore(tmp_path / "wf")
    assert select_workflow({}, "comfystream", store)[1] == "bundled passthrough"
    assert select_workflow({"prompt": BLUR}, "invert", store)[1] == "params.prompt"
    assert select_workflow({}, "invert", store)[0]["2"]["class_type"] == "ImageInvert"
    store.save("invert", BLUR)  # a saved workflow wins over a bundled one of the same name
    assert select_workflow({}, "invert", store)[0] == BLUR
    store.set_default("blur")
    assert select_workflow({"prompt": "a cat"}, "other", store)[1] == "default live workflow 'blur'"
    store.set_default(None)
    assert select_workflow({}, None, store, "invert")[1] == "TRICKLE_WORKFLOW=invert"


def test_store_round_trip_and_names(tmp_path: Path) -> None:
    store = WorkflowStore(tmp_path)
    store.save("my-flow", json.dumps(BLUR))
    assert store.names() == ["my-flow"] and store.get("my-flow") == BLUR
    with pytest.raises(ValidationError):
        store.save("../evil", BLUR)
    with pytest.raises(ValidationError):
        store.set_default("missing")
    store.set_default("my-flow")
    assert store.delete("my-flow") and store.default_name() is None and not store.delete("my-flow")
    assert {"passthrough", "invert", "blur", "sd-turbo-img2img"} <= set(bundled_names())
