"""Frame plans: a live frame runs only the nodes that depend on the frame (docs/comfyui.md, the faster path).

A private ``PromptExecutor`` (``private_exec.py``) still does, for every frame, everything a whole
prompt needs: a ``DynamicPrompt``, a cache signature for every node, an ``ExecutionList``, a new
progress registry, the status messages, and per node ``INPUT_TYPES()`` / input lookup. Between
two frames of one workflow version none of that changes; only the nodes downstream of the frame
do. Measured alone (passthrough, 512×512): 0.44 ms per frame, of which ≈0.28 ms is that
bookkeeping — under a stream's contention about twice that.

A :class:`FramePlan` is built once per workflow version, right after the private executor ran
that version successfully (the warm-up, or the version's first frame), from what that run left:

- **live nodes** — the nodes the outputs need that depend on ``TrickleInput`` or
  ``TrickleOutput`` (both change on every frame), in dependency order;
- **constants** — every other needed node: their outputs are taken from the executor's cache, as
  ComfyUI itself would on every frame (the same objects: models stay loaded once);
- per live node its constant inputs and hidden inputs, computed once by ComfyUI's own
  ``get_input_data`` (V3 data included), and the links it reads per frame.
- per ``TrickleInput`` whether any node but ``TrickleOutput`` reads its IMAGE
  (:func:`picture_readers`): when none does, no float IMAGE is made for the frame and
  ``TrickleOutput`` publishes the frame's own picture (``bindings.FramePictures``).

Each frame then calls, per live node, ComfyUI's own ``_async_map_node_over_list`` (interrupt check,
V3 class clone, lists, async nodes, execution blockers, the executing-node context) and
``get_output_from_returns`` — so a node runs exactly as the executor runs it. Our own two nodes
are called directly (no class clone): they take the frame from the ticket.

A constant node that ComfyUI asks on every run whether it changed (``IS_CHANGED`` /
``fingerprint_inputs``: ``LoadImage`` hashing its file) is *watched*: the plan asks it the same
way before each frame and compares the answer with the one the executor's run recorded; when it
differs, the executor runs that frame (before any node of the plan ran) and a new plan is built
from that run. A node whose answer is NaN (changes on every run), or that changes on three plan
frames in a row, leaves the version without a plan.

A plan is refused — and the frame runs through the private executor as before — when it could
differ from what the executor does: a live node with lazy inputs (``check_lazy_status``), a
constant node that changes on every run, a constant node without a cached output
(``--cache-none``), a ComfyUI whose functions do not look like v0.8's (version-checked as in
``private_exec.py``), or ``TRICKLE_FRAME_PLAN=off``. A node that expands into a subgraph at run
time (only known then) stops the plan for that workflow version; that frame is run again by the
executor.

This module holds the whole concern: what a plan uses of ComfyUI (:class:`ComfyFunctions`,
looked up and version-checked once), the plan and its run per frame (:class:`FramePlan`), and
how a plan is built or refused (:class:`PlanMaker`). ``lease_job.py`` chooses per frame between
a plan and the executor.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .bindings import Ticket
from .comfy_host import CLIENT_ID, PromptResult
from .graph import INPUT_NODE, OUTPUT_NODE, Workflow, is_link

log = logging.getLogger(__name__)


# What a plan uses of ComfyUI: v0.8.0's own per-node execution steps; ``unsupported`` names the
# first one that is missing or has another signature, and plans are then off (the private
# executor runs every frame, as before).

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


# Our own nodes, called directly by a plan: (the frames' tickets, inputs as ComfyUI's lists,
# whether a node other than ``TrickleOutput`` reads this node's IMAGE) → output lists, with
# ComfyUI's semantics for lists and execution blockers. One ticket per frame: several when the
# plan runs a batch (``batch.py``), whose frames are one IMAGE batch. io_nodes.py fills this when
# ComfyUI imports it; the functions hold no stream state.
OwnNode = Callable[[Sequence[Ticket], dict[str, list[Any]], bool], list[list[Any]]]
OWN_NODES: dict[str, OwnNode] = {}


class PlanBroken(Exception):
    """The plan met what it cannot do (a subgraph expansion); the frame must be run again."""


class BatchRefused(Exception):
    """A batch of frames cannot be split back into frames (the output's batch size differs from
    the number of frames); raised by our output node before it delivered anything."""


class PlanStale(Exception):
    """A watched constant changed (its file, say): the executor runs this frame, and a new plan
    is built from that run. Raised before any node of the frame ran."""


@dataclass
class Step:
    """One live node of a plan."""

    node_id: str
    class_type: str
    class_def: Any
    obj: Any  # the executor's own instance of the node (state shared with its runs)
    const: dict[str, Any]  # constant and hidden inputs, in ComfyUI's list form
    links: dict[str, tuple[str, int]]  # input → (source node, output slot), read per frame
    v3_data: Any = None
    own: OwnNode | None = None
    # TrickleInput: whether a node other than TrickleOutput reads its IMAGE (``picture_readers``);
    # when none does, the frames' own pictures pass on unconverted (``bindings.FramePictures``)
    picture_read: bool = True
    pre_execute: Callable[[int], Any] | None = None  # ComfyUI's per-call GraphBuilder prefix


@dataclass
class Watch:
    """A constant node ComfyUI asks on every run whether it changed (``IS_CHANGED`` /
    ``fingerprint_inputs``), and its answer when the plan's constants were cached."""

    node_id: str
    class_type: str
    class_def: Any
    method: str
    inputs: dict[str, Any]  # its constant inputs, as ComfyUI's ``IsChangedCache`` builds them
    v3_data: Any
    value: Any


class FramePlan:
    """One workflow version's live nodes, run once per frame (see the module text)."""

    def __init__(
        self,
        comfy: ComfyFunctions,
        server: Any,
        steps: list[Step],
        constants: dict[str, Any],
        watches: list[Watch] | None = None,
    ) -> None:
        self.comfy = comfy
        self.server = server
        self.steps = steps
        self.constants = constants
        self.watches = watches or []
        self._reported: set[tuple[str, str]] = set()

    def describe(self) -> dict[str, Any]:
        return {
            "live_nodes": [s.node_id for s in self.steps],
            "constant_nodes": sorted(self.constants, key=node_key),
            "watched_nodes": [w.node_id for w in self.watches],
            "unconverted_inputs": [
                s.node_id for s in self.steps if s.class_type == INPUT_NODE and not s.picture_read
            ],
        }

    async def run(self, ticket: Ticket, *batch: Ticket) -> PromptResult:
        """Run the live nodes on this ticket's frame (with ``batch``: on the frames of all these
        tickets as one IMAGE batch, one result for all). Raises :class:`PlanBroken`,
        :class:`PlanStale` or :class:`BatchRefused`."""
        tickets = (ticket, *batch)
        comfy = self.comfy
        if self.server is not None:
            self.server.client_id = CLIENT_ID  # as the executor does: progress stays private
        for watch in self.watches:
            if not await self._unchanged(watch, ticket.prompt_id):
                raise PlanStale(f"node {watch.node_id} ({watch.class_type}) changed")
        try:
            return await self._run_steps(tickets)
        finally:
            if comfy.smart_memory_off():  # as the executor does after every prompt
                comfy.unload_all()

    async def _run_steps(self, tickets: Sequence[Ticket]) -> PromptResult:
        comfy = self.comfy
        values: dict[str, Any] = dict(self.constants)
        with comfy.inference_mode():
            comfy.cleanup_models_gc()  # as the executor does before every prompt's nodes
            for step in self.steps:
                try:
                    values[step.node_id] = await self._step(step, tickets, values)
                except (PlanBroken, BatchRefused):
                    raise
                except comfy.interrupted:
                    return PromptResult(False, "interrupted", {"node_id": step.node_id})
                except Exception as exc:  # the node failed: this frame fails, as in ComfyUI
                    return self._failure(step, exc)
        return PromptResult(True)

    async def _step(self, step: Step, tickets: Sequence[Ticket], values: dict[str, Any]) -> Any:
        comfy = self.comfy
        inputs = dict(step.const)
        for name, (source, slot) in step.links.items():
            outputs = values.get(source)
            inputs[name] = outputs[slot] if outputs is not None and slot < len(outputs) else (None,)
        if step.own is not None:
            comfy.before_node()  # the interrupt check ComfyUI makes before every node
            return step.own(tickets, inputs, step.picture_read)
        results = await comfy.map_over_list(
            tickets[0].prompt_id, step.node_id, step.obj, inputs, step.obj.FUNCTION,
            allow_interrupt=True, execution_block_cb=self._unblock,
            pre_execute_cb=step.pre_execute,
            v3_data=step.v3_data,
        )  # fmt: skip
        if any(isinstance(r, asyncio.Task) for r in results):
            results = await comfy.resolve(results)
        output, _ui, expands = comfy.outputs_from(results, step.obj)
        if expands:
            raise PlanBroken(f"node {step.node_id} ({step.class_type}) expands into a subgraph")
        return output

    async def _unchanged(self, watch: Watch, prompt_id: str) -> bool:
        """Ask the node as ComfyUI's ``IsChangedCache`` does; a failure counts as a change."""
        comfy = self.comfy
        try:
            answers = await comfy.map_over_list(
                prompt_id, watch.node_id, watch.class_def, watch.inputs, watch.method,
                v3_data=watch.v3_data,
            )  # fmt: skip
            answers = await comfy.resolve(answers)
        except Exception as exc:
            log.warning("frame plan: %s of node %s failed: %s", watch.method, watch.node_id, exc)
            return False
        value = [None if isinstance(a, comfy.blocker) else a for a in answers]
        return bool(value == watch.value)

    def _unblock(self, block: Any) -> Any:
        """ComfyUI reports a blocker's message to the prompt's client (ours: nobody) and passes
        a silent blocker on."""
        if getattr(block, "message", None) is not None:
            log.debug("frame plan: execution blocked: %s", block.message)
            return self.comfy.blocker(None)
        return block

    def _failure(self, step: Step, exc: Exception) -> PromptResult:
        comfy = self.comfy
        message = str(exc)
        if comfy.oom and isinstance(exc, comfy.oom):
            comfy.unload_all()  # as ComfyUI does on an out-of-memory error
            message += "\nThis error means you ran out of memory on your GPU."
        exception_type = comfy.type_name(type(exc))
        key = (step.node_id, exception_type)
        if key not in self._reported:  # the traceback once; the driver reports the rest
            self._reported.add(key)
            log.error(
                "frame plan: %s (node %s) failed", step.class_type, step.node_id, exc_info=exc
            )
        detail = {"node_id": step.node_id, "node_type": step.class_type}
        detail["exception_type"] = exception_type
        where = f"{step.class_type} (node {step.node_id})"
        return PromptResult(False, f"{where}: {message.strip()}", detail)


def node_key(node_id: str) -> tuple[int, str]:
    """Numeric node ids in numeric order, others after them."""
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)


# Building plans: which nodes are live, which are constants, which constants are watched, and
# when no plan is made (``PlanRefused``, with the reason).

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


def picture_readers(workflow: Workflow, live: list[str]) -> dict[str, set[str]]:
    """Per ``TrickleInput`` node of ``live``: the live nodes other than ``TrickleOutput`` (through
    its ``images`` input) that read its IMAGE, output 0. Only live nodes can read it (a node that
    reads a live node is live). Where the set is empty no node looks at the picture itself, so a
    plan never converts it to a float IMAGE and back: ``TrickleOutput`` gets the frame's own uint8
    picture (a passthrough graph, or one whose output does not come from the input picture)."""
    inputs = [n for n in live if workflow[n].get("class_type") == INPUT_NODE]
    readers: dict[str, set[str]] = {n: set() for n in inputs}
    for node_id in live:
        node = workflow[node_id]
        for name, value in node.get("inputs", {}).items():
            if not is_link(value) or value[0] not in readers or int(value[1]) != 0:
                continue
            if node.get("class_type") == OUTPUT_NODE and name == "images":
                continue
            readers[value[0]].add(node_id)
    return readers


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
        readers = picture_readers(workflow, live)
        for step in steps:
            if step.node_id in readers:
                step.picture_read = bool(readers[step.node_id])
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
