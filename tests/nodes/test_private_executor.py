"""The private-executor adapter (``nodes/private_exec.py``) against stand-ins with ComfyUI's
shapes; the real thing runs in tests/comfyui/test_comfyui_stream.py."""

from __future__ import annotations

import asyncio
import enum
import types
from typing import Any

import pytest
from trickle_live.nodes.private_exec import (
    PrivateExecution,
    cache_settings,
    reads_is_changed,
    unsupported,
)


class CacheType(enum.Enum):
    CLASSIC = 0
    LRU = 1
    NONE = 2
    RAM_PRESSURE = 3


class IsChangedCache:
    """v0.8.0's: a preset ``is_changed`` in the prompt is the answer."""

    def __init__(self, prompt_id: str, dynprompt: Any, outputs_cache: Any) -> None:
        self.dynprompt = dynprompt

    async def get(self, node_id: str) -> Any:
        node = self.dynprompt.get_node(node_id)
        if "is_changed" in node:
            return node["is_changed"]
        return await asyncio.sleep(0, float("nan"))


class AsksTheNode(IsChangedCache):
    """A ComfyUI that always asks the node (here: after a suspension, as a real call would)."""

    async def get(self, node_id: str) -> Any:
        await asyncio.sleep(0)
        return self.dynprompt.get_node(node_id)["is_changed"]


class AsksSynchronously(IsChangedCache):
    async def get(self, node_id: str) -> Any:
        return [float("nan")]


class PromptExecutor:
    """Records what it was asked to run; fails when the prompt has a node named "boom"."""

    def __init__(self, server: Any, cache_type: Any = None, cache_args: Any = None) -> None:
        self.server, self.cache_type, self.cache_args = server, cache_type, cache_args
        self.success = True
        self.status_messages: list[tuple[str, dict[str, Any]]] = []
        self.prompts: list[dict[str, Any]] = []

    async def execute_async(
        self, prompt: Any, prompt_id: Any, extra_data: Any = None, execute_outputs: Any = None
    ) -> None:
        self.prompts.append(prompt)
        self.server.client_id = extra_data["client_id"]
        progress.global_progress_registry = f"registry of {prompt_id}"
        self.status_messages = [("execution_start", {"prompt_id": prompt_id})]
        if "boom" in prompt:
            self.success = False
            error = {"node_id": "boom", "node_type": "Boom", "exception_message": "it broke"}
            self.status_messages.append(("execution_error", error))
        else:
            self.status_messages.append(("execution_success", {"prompt_id": prompt_id}))


execution = types.SimpleNamespace(
    PromptExecutor=PromptExecutor, CacheType=CacheType, IsChangedCache=IsChangedCache
)
progress = types.SimpleNamespace(global_progress_registry="outer", reset_progress_state=None)


def adapter(**args: Any) -> PrivateExecution:
    server = types.SimpleNamespace(client_id="editor", last_node_id="7", last_prompt_id="outer")
    return PrivateExecution(server, execution, progress, types.SimpleNamespace(**args))


def test_a_comfyui_of_the_expected_shape_is_supported() -> None:
    assert unsupported(execution, progress) is None
    assert reads_is_changed(execution)


def test_what_is_missing_or_different_is_named() -> None:
    class Sync(PromptExecutor):
        def execute_async(self, *a: Any) -> None:  # type: ignore[override]
            pass

    class Renamed(PromptExecutor):
        async def execute_async(self, prompt: Any, pid: Any, extra: Any = None) -> None:  # type: ignore[override]
            pass

    cases = {
        "PromptExecutor is missing": types.SimpleNamespace(CacheType=CacheType),
        "not a coroutine": types.SimpleNamespace(PromptExecutor=Sync, CacheType=CacheType),
        "expected ['prompt'": types.SimpleNamespace(PromptExecutor=Renamed, CacheType=CacheType),
    }
    for words, module in cases.items():
        reason = unsupported(module, progress)
        assert reason is not None and words in reason, reason
    no_registry = types.SimpleNamespace(reset_progress_state=None)
    assert "global_progress_registry" in str(unsupported(execution, no_registry))
    assert not reads_is_changed(types.SimpleNamespace())
    assert not reads_is_changed(types.SimpleNamespace(IsChangedCache=AsksTheNode))
    assert not reads_is_changed(types.SimpleNamespace(IsChangedCache=AsksSynchronously))
    assert not reads_is_changed(types.SimpleNamespace(IsChangedCache=PromptExecutor))


@pytest.mark.parametrize(
    ("args", "kind", "lru", "ram"),
    [
        ({}, CacheType.CLASSIC, 0, 0),
        ({"cache_lru": 8}, CacheType.LRU, 8, 0),
        ({"cache_ram": 4.0}, CacheType.RAM_PRESSURE, 0, 4.0),
        ({"cache_none": True}, CacheType.NONE, 0, 0),
    ],
)
def test_the_cache_is_the_one_comfyuis_worker_uses(
    args: dict[str, Any], kind: CacheType, lru: int, ram: float
) -> None:
    assert cache_settings(execution, types.SimpleNamespace(**args)) == (
        kind,
        {"lru": lru, "ram": ram},
    )
    made = adapter(**args).new_executor()
    assert made.cache_type is kind and made.cache_args == {"lru": lru, "ram": ram}


def test_each_run_marks_the_stream_nodes_changed_and_leaves_the_workflow_alone() -> None:
    private = adapter()
    executor = private.new_executor()
    workflow = {
        "1": {"class_type": "TrickleInput", "inputs": {}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "TrickleOutput", "inputs": {"images": ["2", 0]}},
    }
    for pid in ("a", "b"):
        result = asyncio.run(private.run(executor, pid, workflow, ["3"]))
        assert result.ok and result.error is None
    first, second = executor.prompts
    assert "is_changed" not in first["2"] and "is_changed" not in workflow["1"]
    assert first["1"]["is_changed"] != second["1"]["is_changed"]  # a fresh value per frame
    assert first["3"]["is_changed"] != second["3"]["is_changed"]


def test_a_failing_prompt_gives_the_node_and_the_message() -> None:
    private = adapter()
    executor = private.new_executor()
    result = asyncio.run(private.run(executor, "x", {"boom": {"class_type": "Boom"}}, ["boom"]))
    assert not result.ok and result.error is not None and "it broke" in result.error
    assert result.detail["node_id"] == "boom"
    # the next prompt succeeds again: ``success`` is not left over from the failure
    ok = asyncio.run(private.run(executor, "y", {"1": {"class_type": "X"}}, ["1"]))
    assert ok.ok


def test_comfyuis_globals_are_put_back_after_a_lease() -> None:
    private = adapter()
    progress.global_progress_registry = "outer"  # (other tests ran prompts before)
    saved = private.save()
    asyncio.run(private.run(private.new_executor(), "frame", {"1": {"class_type": "X"}}, ["1"]))
    assert progress.global_progress_registry == "registry of frame"
    assert private.server.client_id != "editor"
    private.restore(saved)
    assert progress.global_progress_registry == "outer"
    assert (private.server.client_id, private.server.last_node_id) == ("editor", "7")
