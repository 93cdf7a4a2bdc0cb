"""Building frame plans (``frame_plan.py``): which nodes are live, which are constants, which
constants are watched, and when no plan is made (``PlanRefused``, with the reason)."""

from __future__ import annotations

import logging
from typing import Any

from .comfy_host import CLIENT_ID
from .frame_plan import OWN_NODES, FramePlan, Step, Watch, node_key
from .graph import INPUT_NODE, OUTPUT_NODE, Workflow, is_link
from .plan_comfy import ComfyFunctions

log = logging.getLogger(__name__)

FRESH = frozenset({INPUT_NODE, OUTPUT_NODE})  # change on every frame by definition


class PlanRefused(Exception):
    """This workflow version runs through the executor; the message says why."""


def live_order(workflow: Workflow, outputs: list[str]) -> tuple[set[str], list[str]]:
    """(the nodes the outputs need, the live ones among them in dependency order).

    Live: ``TrickleInput``/``TrickleOutput`` and every needed node that reads a live node's
    output. Raises :class:`PlanRefused` for a link to a missing node or a cycle."""
    needed: set[str] = set()
    pending = [o for o in outputs]
    while pending:
        node_id = pending.pop()
        if node_id in needed:
            continue
        node = workflow.get(node_id)
        if node is None:
            raise PlanRefused(f"node {node_id} is linked but not in the workflow")
        needed.add(node_id)
        pending.extend(v[0] for v in node.get("inputs", {}).values() if is_link(v))
    sources = {
        n: {v[0] for v in workflow[n].get("inputs", {}).values() if is_link(v)} for n in needed
    }
    order: list[str] = []
    done: set[str] = set()
    remaining = sorted(needed, key=node_key)
    while remaining:
        ready = [n for n in remaining if sources[n] <= done]
        if not ready:
            raise PlanRefused(f"the graph has a cycle through nodes {', '.join(remaining)}")
        order.extend(ready)
        done.update(ready)
        remaining = [n for n in remaining if n not in done]
    live: set[str] = set()
    for node_id in order:
        if workflow[node_id].get("class_type") in FRESH or sources[node_id] & live:
            live.add(node_id)
    return needed, [n for n in order if n in live]


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, list | tuple):
        return any(_has_nan(v) for v in value)
    return False


class PlanMaker:
    """Builds plans for one ComfyUI (the functions found once)."""

    def __init__(self, comfy: ComfyFunctions, server: Any) -> None:
        self.comfy = comfy
        self.server = server

    @classmethod
    def for_comfyui(cls, server: Any, enabled: bool = True) -> tuple[PlanMaker | None, str | None]:
        """``enabled``: ``RunnerConfig.frame_plan`` (``TRICKLE_FRAME_PLAN``)."""
        if not enabled:
            return None, "TRICKLE_FRAME_PLAN is off"
        comfy, reason = ComfyFunctions.for_comfyui()
        if comfy is None:
            return None, reason
        return cls(comfy, server), None

    def build(
        self, executor: Any, workflow: Workflow, outputs: list[str], ran: Workflow | None = None
    ) -> FramePlan:
        """A plan from the executor's state right after it ran this workflow successfully;
        ``ran`` is the prompt of that run (ComfyUI wrote each node's ``is_changed`` answer into
        it). Raises :class:`PlanRefused` with the reason."""
        comfy = self.comfy
        needed, live = live_order(workflow, outputs)
        constants: dict[str, Any] = {}
        watches: list[Watch] = []
        for node_id in sorted(needed - set(live), key=node_key):
            class_type = workflow[node_id].get("class_type", "?")
            class_def = self._class(node_id, class_type)
            method = self._asks_every_run(class_def)
            if method is not None:
                watches.append(self._watch(node_id, class_type, class_def, method, workflow, ran))
            cached = executor.caches.outputs.get(node_id)
            if cached is None or getattr(cached, "outputs", None) is None:
                raise PlanRefused(f"node {node_id} ({class_type}) has no cached output")
            constants[node_id] = cached.outputs
        dynprompt = comfy.dynamic_prompt(workflow)
        extra = {"client_id": CLIENT_ID}
        steps = [self._step(executor, workflow, n, dynprompt, extra) for n in live]
        return FramePlan(comfy, self.server, steps, constants, watches)

    def _watch(
        self,
        node_id: str,
        class_type: str,
        class_def: Any,
        method: str,
        workflow: Workflow,
        ran: Workflow | None,
    ) -> Watch:
        value = (ran or {}).get(node_id, {}).get("is_changed")
        if value is None:
            raise PlanRefused(f"node {node_id} ({class_type}): its {method} answer is unknown")
        if _has_nan(value):
            raise PlanRefused(f"node {node_id} ({class_type}) changes on every run ({method})")
        inputs = workflow[node_id].get("inputs", {})
        data, _, v3_data = self.comfy.get_input_data(inputs, class_def, node_id, None)
        return Watch(node_id, class_type, class_def, method, data, v3_data, value)

    def _class(self, node_id: str, class_type: str) -> Any:
        class_def = self.comfy.node_classes.get(class_type)
        if class_def is None:
            raise PlanRefused(f"node {node_id}: unknown node type {class_type}")
        return class_def

    def _asks_every_run(self, class_def: Any) -> str | None:
        """The method ComfyUI asks on every run whether the node changed (its own test,
        ``IsChangedCache.get``), or None."""
        if self.comfy.is_v3(class_def):
            if self.comfy.override(class_def, "fingerprint_inputs") is not None:
                return "fingerprint_inputs"
        return "IS_CHANGED" if hasattr(class_def, "IS_CHANGED") else None

    def _has_lazy_inputs(self, class_def: Any, obj: Any) -> bool:
        if self.comfy.is_v3(class_def):
            if self.comfy.override(class_def, "check_lazy_status") is not None:
                return True
        elif getattr(obj, "check_lazy_status", None) is not None:
            return True
        declared = class_def.INPUT_TYPES()
        for group in ("required", "optional"):
            for spec in (declared.get(group) or {}).values():
                if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict):
                    if spec[1].get("lazy"):
                        return True
        return False

    def _step(
        self, executor: Any, workflow: Workflow, node_id: str, dynprompt: Any, extra: dict[str, Any]
    ) -> Step:
        node = workflow[node_id]
        class_type = node.get("class_type", "?")
        class_def = self._class(node_id, class_type)
        inputs: dict[str, Any] = node.get("inputs", {})
        own = OWN_NODES.get(class_type)
        if own is not None:
            links = {k: (v[0], v[1]) for k, v in inputs.items() if is_link(v)}
            const = {k: [v] for k, v in inputs.items() if k not in links}
            return Step(node_id, class_type, class_def, None, const, links, None, own)
        obj = executor.caches.objects.get(node_id)
        if obj is None:
            raise PlanRefused(f"node {node_id} ({class_type}) has no instance in the executor")
        if self._has_lazy_inputs(class_def, obj):
            raise PlanRefused(f"node {node_id} ({class_type}) has lazy inputs")
        data, missing, v3_data = self.comfy.get_input_data(
            inputs, class_def, node_id, None, dynprompt, extra
        )
        links = {k: (v[0], v[1]) for k, v in inputs.items() if k in missing and is_link(v)}
        const = {k: v for k, v in data.items() if k not in links}
        set_prefix = self.comfy.set_prefix

        def pre_execute(index: int) -> None:
            set_prefix(node_id, index, 0)

        return Step(node_id, class_type, class_def, obj, const, links, v3_data, None, pre_execute)
