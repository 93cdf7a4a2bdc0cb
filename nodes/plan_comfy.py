"""What a frame plan uses of ComfyUI (``frame_plan.py``), looked up and version-checked once.

The functions are ComfyUI v0.8.0's own per-node execution steps; ``unsupported`` names the first
one that is missing or has another signature, and plans are then off (the private executor runs
every frame, as before).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .graph import Workflow

MAP_PARAMS = [
    "prompt_id",
    "unique_id",
    "obj",
    "input_data_all",
    "func",
    "allow_interrupt",
    "execution_block_cb",
    "pre_execute_cb",
    "v3_data",
]
INPUT_PARAMS = ["inputs", "class_def", "unique_id", "execution_list", "dynprompt", "extra_data"]


@dataclass
class ComfyFunctions:
    """What a plan uses of ComfyUI (v0.8.0), looked up and checked once."""

    get_input_data: Callable[..., Any]
    map_over_list: Callable[..., Any]
    resolve: Callable[..., Any]
    outputs_from: Callable[..., Any]
    blocker: type
    interrupted: type[BaseException]
    before_node: Callable[[], None]
    dynamic_prompt: Callable[[Workflow], Any]
    set_prefix: Callable[..., Any]
    is_v3: Callable[[type], bool]
    override: Callable[[type, str], Any]
    type_name: Callable[[type], str]
    node_classes: dict[str, Any]
    inference_mode: Callable[[], Any]
    oom: tuple[type, ...] = ()
    unload_all: Callable[[], None] = lambda: None
    cleanup_models_gc: Callable[[], None] = lambda: None  # the executor's per-prompt model check
    smart_memory_off: Callable[[], bool] = lambda: False  # --disable-smart-memory

    @classmethod
    def for_comfyui(cls) -> tuple[ComfyFunctions | None, str | None]:
        try:
            import importlib

            import comfy.model_management as mm
            import execution
            import torch
            from comfy_api.internal import _ComfyNodeInternal, first_real_override
            from comfy_execution.graph import DynamicPrompt
            from comfy_execution.graph_utils import ExecutionBlocker, GraphBuilder

            nodes = importlib.import_module("nodes")  # ComfyUI's nodes.py, not this folder
        except ImportError as exc:
            return None, f"ComfyUI modules missing: {exc}"
        reason = unsupported(execution)
        if reason is not None:
            return None, reason
        oom = getattr(mm, "OOM_EXCEPTION", None)
        return cls(
            get_input_data=execution.get_input_data,
            map_over_list=execution._async_map_node_over_list,
            resolve=execution.resolve_map_node_over_list_results,
            outputs_from=execution.get_output_from_returns,
            blocker=ExecutionBlocker,
            interrupted=mm.InterruptProcessingException,
            before_node=nodes.before_node_execution,
            dynamic_prompt=DynamicPrompt,
            set_prefix=GraphBuilder.set_default_prefix,
            is_v3=lambda c: isinstance(c, type) and issubclass(c, _ComfyNodeInternal),
            override=first_real_override,
            type_name=execution.full_type_name,
            node_classes=nodes.NODE_CLASS_MAPPINGS,
            inference_mode=torch.inference_mode,
            oom=(oom,) if isinstance(oom, type) else (),
            unload_all=mm.unload_all_models,
            cleanup_models_gc=getattr(mm, "cleanup_models_gc", lambda: None),
            smart_memory_off=lambda: bool(getattr(mm, "DISABLE_SMART_MEMORY", False)),
        ), None


def unsupported(execution: Any) -> str | None:
    """Why this ComfyUI's executor functions do not fit a plan, or None when they do."""
    for name in (
        "get_input_data",
        "_async_map_node_over_list",
        "resolve_map_node_over_list_results",
        "get_output_from_returns",
        "full_type_name",
    ):
        if not callable(getattr(execution, name, None)):
            return f"execution.{name} is missing"
    checks = (
        ("_async_map_node_over_list", MAP_PARAMS),
        ("get_input_data", INPUT_PARAMS),
        ("get_output_from_returns", ["return_values", "obj"]),
    )
    for name, expected in checks:
        params = list(inspect.signature(getattr(execution, name)).parameters)
        if params != expected:
            return f"execution.{name}({', '.join(params)}): expected {expected}"
    return None
