"""A private ``PromptExecutor`` per stream: the version-checked adapter (docs/comfyui.md, the faster path).

ComfyUI's own worker runs one prompt per queue item: ``asyncio.run`` of a fresh loop, history,
``task_done``, status broadcasts, a hand-over between the server loop and the worker thread —
about 3 ms of CPU per frame on a shared 2-core box. A ``PromptExecutor`` of our own, awaited on
the loop that is already running, runs the same graph with the same semantics (caching, lazy
inputs, expansion, errors, interrupt) for a fraction of that. It shares process-global state
with the stock worker, so it only ever runs *inside* a queued "lease" prompt (see ``lease.py``):
while the lease runs, the stock worker is busy with it and runs nothing else.

What is global, and what this module does about it (checked against ComfyUI v0.8.0):
- ``comfy_execution.progress.global_progress_registry`` is replaced by every run: saved before
  the lease serves frames and put back after, so the lease prompt itself finishes normally;
- ``server.client_id`` / ``last_node_id`` / ``last_prompt_id``: saved and restored likewise;
- the interrupt flag is cleared by every run: the lease looks at it before each frame and ends
  (the editor's Interrupt ends the lease, the stream goes on with the next one);
- model management is not thread-safe: only one executor runs at a time, on the worker thread.

One shortcut, also checked: ComfyUI asks every node with a ``fingerprint_inputs``/``IS_CHANGED``
whether it changed, unless the prompt already says (``node["is_changed"]``, which ComfyUI writes
back itself). ``TrickleInput``/``TrickleOutput`` change on every frame by definition (their
fingerprint is NaN), so each frame's prompt carries a fresh value for them: the same "run again"
answer without building a V3 class clone per node per frame.

``unsupported()`` names what is missing when a ComfyUI does not look like this; the driver then
uses the stock queue, one prompt per frame.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any

from .comfy_host import CLIENT_ID, PromptResult, copy_prompt, result_from_history
from .graph import Workflow

log = logging.getLogger(__name__)

EXECUTE_PARAMS = ["prompt", "prompt_id", "extra_data", "execute_outputs"]
FRESH_EVERY_FRAME = frozenset({"TrickleInput", "TrickleOutput"})
SERVER_FIELDS = ("client_id", "last_node_id", "last_prompt_id")


def unsupported(execution: Any, progress: Any) -> str | None:
    """Why this ComfyUI cannot host a private executor, or None when it can."""
    executor = getattr(execution, "PromptExecutor", None)
    if executor is None:
        return "execution.PromptExecutor is missing"
    run = getattr(executor, "execute_async", None)
    if run is None or not inspect.iscoroutinefunction(run):
        return "PromptExecutor.execute_async is not a coroutine function"
    params = list(inspect.signature(run).parameters)[1:]
    if params != EXECUTE_PARAMS:
        return f"PromptExecutor.execute_async({', '.join(params)}): expected {EXECUTE_PARAMS}"
    init = list(inspect.signature(executor.__init__).parameters)[1:]
    if init[:3] != ["server", "cache_type", "cache_args"]:
        return f"PromptExecutor({', '.join(init)}): expected (server, cache_type, cache_args)"
    for name in ("global_progress_registry", "reset_progress_state"):
        if not hasattr(progress, name):
            return f"comfy_execution.progress.{name} is missing"
    if not hasattr(execution, "CacheType"):
        return "execution.CacheType is missing"
    return None


class _ProbePrompt:
    """A ``DynamicPrompt`` stand-in holding one ``TrickleInput`` with a preset ``is_changed``."""

    def __init__(self, preset: list[str]) -> None:
        self.preset = preset

    def get_node(self, node_id: str) -> dict[str, Any]:
        return {"class_type": "TrickleInput", "inputs": {}, "is_changed": self.preset}


def reads_is_changed(execution: Any) -> bool:
    """Does this ComfyUI take ``node["is_changed"]`` from the prompt instead of asking the node?

    Asked by behaviour: ``IsChangedCache.get`` on a prompt whose ``TrickleInput`` carries a
    preset answer. v0.8.0 returns the preset before its first ``await``; a ComfyUI that asks the
    node instead (or any failure) answers no, and the stream runs without the shortcut."""
    preset = ["trickle-live probe"]
    try:
        step = execution.IsChangedCache("trickle-probe", _ProbePrompt(preset), None).get("1")
    except Exception:  # no such class, another signature: no shortcut
        return False
    try:
        step.send(None)
    except StopIteration as done:
        return done.value is preset
    except Exception:  # it asked the node, which failed without its inputs: not the shortcut
        return False
    step.close()  # it awaits something, so it did not simply read the preset
    return False


def cache_settings(execution: Any, args: Any) -> tuple[Any, dict[str, Any]]:
    """The cache type and arguments ComfyUI's own worker uses (``main.py: prompt_worker``)."""
    kinds = execution.CacheType
    lru, ram = getattr(args, "cache_lru", 0) or 0, getattr(args, "cache_ram", 0) or 0
    if lru > 0:
        kind = kinds.LRU
    elif ram > 0 and hasattr(kinds, "RAM_PRESSURE"):
        kind = kinds.RAM_PRESSURE
    elif getattr(args, "cache_none", False):
        kind = kinds.NONE
    else:
        kind = kinds.CLASSIC
    return kind, {"lru": lru, "ram": ram}


@dataclass
class Saved:
    registry: Any
    server: dict[str, Any]


class PrivateExecution:
    """Makes executors and runs one prompt on one, keeping ComfyUI's globals as they were."""

    def __init__(
        self, server: Any, execution: Any, progress: Any, args: Any, interrupted: Any = None
    ) -> None:
        self.server = server
        self._interrupted = interrupted or (lambda: False)
        self.execution = execution
        self.progress = progress
        self.cache_type, self.cache_args = cache_settings(execution, args)
        self.preset_is_changed = reads_is_changed(execution)
        log.info("trickle-live: is_changed preset in frame prompts: %s", self.preset_is_changed)
        self._serial = 0
        self.last_prompt: Workflow = {}  # the last run's prompt: ComfyUI wrote ``is_changed`` in it

    @classmethod
    def for_comfyui(cls, server: Any) -> tuple[PrivateExecution | None, str | None]:
        """(the adapter, None) inside a ComfyUI that fits; (None, why) otherwise."""
        try:
            import comfy.model_management as model_management
            import comfy_execution.progress as progress
            import execution
            from comfy.cli_args import args
        except ImportError as exc:
            return None, f"ComfyUI modules missing: {exc}"
        reason = unsupported(execution, progress)
        if reason is not None:
            return None, reason
        interrupted = getattr(model_management, "processing_interrupted", None)
        return cls(server, execution, progress, args, interrupted), None

    def interrupted(self) -> bool:
        """ComfyUI's interrupt flag (the editor's Interrupt button) is set."""
        return bool(self._interrupted())

    def new_executor(self) -> Any:
        return self.execution.PromptExecutor(
            self.server, cache_type=self.cache_type, cache_args=self.cache_args
        )

    def save(self) -> Saved:
        fields = {name: getattr(self.server, name, None) for name in SERVER_FIELDS}
        return Saved(self.progress.global_progress_registry, fields)

    def restore(self, saved: Saved) -> None:
        self.progress.global_progress_registry = saved.registry
        for name, value in saved.server.items():
            setattr(self.server, name, value)

    async def run(
        self, executor: Any, prompt_id: str, workflow: Workflow, outputs: list[str]
    ) -> PromptResult:
        """Run one prompt (on the loop of the worker thread, inside a lease)."""
        prompt = copy_prompt(workflow)
        if self.preset_is_changed:
            self._serial += 1
            for node in prompt.values():
                if node.get("class_type") in FRESH_EVERY_FRAME:
                    node["is_changed"] = [self._serial]
        self.last_prompt = prompt
        executor.success = True  # a prompt that fails before any node runs leaves it as it was
        await executor.execute_async(prompt, prompt_id, {"client_id": CLIENT_ID}, list(outputs))
        status = "success" if executor.success else "error"
        return result_from_history(
            {"status": {"status_str": status, "messages": executor.status_messages}}
        )
