"""Which workflow runs, the way users were told to choose it: any ``model_id`` (a saved live
workflow of that name, else the default), a default live workflow without the editor
(``TRICKLE_WORKFLOW`` / ``--workflow``: a saved or bundled name, or a file), and ComfyStream-style
graphs — on the standalone runner and in the workflow selection the ComfyUI driver uses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from compat_graphs import (
    LOADIMAGE_BLUR_SAVE,
    LOADIMAGE_INVERT_PREVIEW,
    LOADIMAGE_SAVEIMAGE,
    PRIMARY_INVERT,
    TENSOR_PASSTHROUGH,
    as_text,
)
from compat_kit import get, post
from runner_streamkit import clip, decode, finish_input, open_stream
from trickle_live.nodes.graph import INPUT_NODE, OUTPUT_NODE, adapt
from trickle_live.nodes.store import WorkflowStore, select_workflow
from trickle_live.trickle.config import RunnerConfig
from trickle_live.trickle.errors import ValidationError
from trickle_live.trickle.session.workflow_spec import processor_for, resolve

ROOT = Path(__file__).resolve().parents[2]
MODEL_IDS = ["comfystream", "comfyui", "streamdiffusion", "noop", "my-own-pipeline"]


# --- any model_id ---------------------------------------------------------------------------


async def test_any_model_id_starts_a_stream(make_runner: Any, orchestrator: Any) -> None:
    runner = await make_runner()
    for model_id in MODEL_IDS:
        channels = orchestrator.create_channels()
        status, body, _ = await orchestrator.start_stream(
            runner.url, channels, None, model_id=model_id, stream_id=model_id
        )
        assert (status, body) == (200, {}), model_id
        assert runner.api.manager.get(model_id).request.model_id == model_id
        await runner.api.manager.stop(model_id)
    assert runner.api.manager.started == len(MODEL_IDS)


@pytest.mark.parametrize("variable", ["TRICKLE_MODEL_ID", "MODEL_ID"])
async def test_version_and_hardware_echo_the_configured_model_id(
    make_runner: Any, http: aiohttp.ClientSession, variable: str
) -> None:
    config = RunnerConfig.from_env({variable: "streamdiffusion"})
    runner = await make_runner(model_id=config.model_id)
    for path in ("/version", "/hardware/info", "/hardware/stats", "/trickle/runner/version"):
        status, body = await get(http, runner.url + path)
        assert status == 200 and body["model_id"] == "streamdiffusion", (path, body)
        assert body["pipeline"] == "live-video-to-video"


def test_model_id_selects_a_saved_workflow_else_the_default(tmp_path: Path) -> None:
    store = WorkflowStore(tmp_path / "workflows")
    store.save("streamdiffusion", PRIMARY_INVERT)
    assert select_workflow({}, "streamdiffusion", store) == (
        PRIMARY_INVERT,
        "workflow named like model_id 'streamdiffusion'",
    )
    for model_id in ("comfystream", "comfyui", "noop"):  # nothing saved under these names
        assert select_workflow({}, model_id, store)[1] == "bundled passthrough"
    store.save("studio", LOADIMAGE_INVERT_PREVIEW)
    store.set_default("studio")
    assert select_workflow({}, "comfystream", store) == (
        LOADIMAGE_INVERT_PREVIEW,
        "default live workflow 'studio'",
    )
    # a workflow in the start request wins over both; ComfyStream's `prompts` list too
    chosen = select_workflow({"prompts": [TENSOR_PASSTHROUGH]}, "streamdiffusion", store)
    assert chosen == (TENSOR_PASSTHROUGH, "params.prompts")


def test_trickle_workflow_names_a_saved_workflow_or_a_file(tmp_path: Path) -> None:
    store = WorkflowStore(tmp_path / "workflows")
    path = tmp_path / "my-workflow.json"
    path.write_text(as_text(LOADIMAGE_INVERT_PREVIEW))
    workflow, source = select_workflow({}, "comfystream", store, str(path))
    assert (workflow, source) == (LOADIMAGE_INVERT_PREVIEW, f"file {path}")
    store.save("nightly", TENSOR_PASSTHROUGH)
    assert select_workflow({}, "comfystream", store, "nightly") == (
        TENSOR_PASSTHROUGH,
        "TRICKLE_WORKFLOW=nightly",
    )
    store.set_default("nightly")  # the editor's choice wins over the environment
    assert select_workflow({}, None, store, "nightly")[1] == "default live workflow 'nightly'"
    store.set_default(None)
    missing = str(tmp_path / "missing.json")
    assert select_workflow({}, None, store, missing)[1] == "bundled passthrough"  # logged, ignored
    assert RunnerConfig.from_env({"TRICKLE_WORKFLOW": "nightly"}).workflow == "nightly"


# --- ComfyStream-shaped graphs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("graph", "source", "sink"),
    [
        (TENSOR_PASSTHROUGH, "1", "2"),
        (PRIMARY_INVERT, "5", "9"),
        (LOADIMAGE_INVERT_PREVIEW, "10", "12"),
        (LOADIMAGE_SAVEIMAGE, "3", "4"),
        (LOADIMAGE_BLUR_SAVE, "1", "4"),
    ],
)
def test_comfystream_graphs_are_mapped_to_trickle_nodes(
    graph: dict[str, Any], source: str, sink: str
) -> None:
    adapted, notes = adapt(graph)
    assert adapted[source] == {"class_type": INPUT_NODE, "inputs": {}}
    assert adapted[sink]["class_type"] == OUTPUT_NODE
    assert adapted[sink]["inputs"]["images"] == graph[sink]["inputs"]["images"]
    assert f"node {source} ({graph[source]['class_type']}) reads the stream" in notes
    assert f"node {sink} ({graph[sink]['class_type']}) writes the stream" in notes
    assert graph[source]["class_type"] != INPUT_NODE  # the caller's graph is left as it was


def test_two_load_images_without_a_marker_are_refused_not_silently_static() -> None:
    graph = {**LOADIMAGE_SAVEIMAGE, "8": {"class_type": "LoadImage", "inputs": {"image": "b"}}}
    with pytest.raises(ValidationError, match="no frame source"):
        adapt(graph)
    marked = {**graph, "3": {"class_type": "PrimaryInputLoadImage", "inputs": {}}}
    assert adapt(marked)[0]["3"]["class_type"] == INPUT_NODE


@pytest.mark.parametrize(
    ("params", "inverted"),
    [
        ({"prompt": PRIMARY_INVERT}, True),
        ({"prompts": [LOADIMAGE_INVERT_PREVIEW]}, True),
        ({"prompts": as_text(TENSOR_PASSTHROUGH)}, False),
        ({"prompt": "a cat in a hat"}, False),  # text, not a workflow: the default processor
    ],
)
async def test_standalone_runner_runs_comfystream_graphs(
    make_runner: Any, orchestrator: Any, params: dict[str, Any], inverted: bool
) -> None:
    runner = await make_runner()
    gateway, _, status, body, _ = await open_stream(orchestrator, runner.url, params)
    try:
        assert (status, body) == (200, {})
        await gateway.publish(clip(1.0))
        await finish_input(gateway, runner, 10, 5)
    finally:
        await gateway.close()
    out = decode(gateway.output.data)
    assert len(out.pts) >= 13 and -1 not in out.numbers
    assert set(out.inverted) == {inverted}


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"prompt": LOADIMAGE_BLUR_SAVE}, "node 3 (ImageBlur)"),
        ({"prompts": [{"nodes": [], "links": []}]}, "UI-format"),
        ({"prompt": "{not json"}, "params.prompt"),
    ],
)
async def test_standalone_runner_refuses_graphs_it_cannot_compute(
    make_runner: Any, http: aiohttp.ClientSession, orchestrator: Any, params: Any, needle: str
) -> None:
    runner = await make_runner()
    channels = orchestrator.create_channels()
    status, body = await post(
        http, runner.url + "/live-video-to-video", channels.start_body(params, "s", "comfyui")
    )
    assert status == 400 and needle in body["detail"]["msg"], body
    assert body["detail"]["field"].startswith("params.prompt")
    assert not runner.api.manager.list()


def test_workflow_values_resolve_to_processors(tmp_path: Path) -> None:
    assert resolve("invert") == ("invert", "processor invert")
    assert resolve("passthrough") == ("passthrough", "processor passthrough")
    path = tmp_path / "cs.json"
    path.write_text(as_text({"prompt": PRIMARY_INVERT}))  # a /prompt body is not a graph
    with pytest.raises(ValidationError):
        resolve(str(path))
    path.write_text(as_text(PRIMARY_INVERT))
    assert resolve(str(path)) == ("invert", f"file {path}")
    assert processor_for([TENSOR_PASSTHROUGH]) == "passthrough"
    with pytest.raises(ValidationError, match="a workflow file or one of"):
        resolve("no-such-workflow")


def test_resolve_bundled_blur_is_refused_naming_the_node() -> None:
    with pytest.raises(ValidationError, match=r"ImageBlur"):
        resolve("blur")


# --- the --workflow option of the standalone runner -------------------------------------------


def _runner(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "trickle", "runner", "--port", "0", *args],
        cwd=ROOT, env={**os.environ, **(env or {})}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.parametrize("how", ["flag", "env"])
def test_runner_command_takes_a_workflow_file(tmp_path: Path, how: str) -> None:
    path = tmp_path / "authoring-page.json"
    path.write_text(as_text(LOADIMAGE_INVERT_PREVIEW))
    args, env = (["--workflow", str(path)], {}) if how == "flag" else ([], {})
    if how == "env":
        env = {"TRICKLE_WORKFLOW": str(path)}
    proc = _runner(args, env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"(file {path}," in line, line
        url = line.split()[3]
        with urllib.request.urlopen(url + "/trickle/status", timeout=10) as resp:
            assert json.load(resp)["config"]["workflow"] == str(path)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_runner_command_refuses_a_workflow_that_needs_comfyui(tmp_path: Path) -> None:
    path = tmp_path / "blur.json"
    path.write_text(as_text(LOADIMAGE_BLUR_SAVE))
    proc = _runner(["--workflow", str(path)])
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "node 3 (ImageBlur)" in err and "ComfyUI" in err
    proc = _runner(["--workflow", "invert", "--processor", "invert"])
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "either --processor or --workflow" in err
