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

Plans are built in ``plan_build.py``, with the ComfyUI functions of ``plan_comfy.py``, and
chosen per frame in ``lease_job.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .bindings import Ticket
from .comfy_host import CLIENT_ID, PromptResult
from .plan_comfy import ComfyFunctions

log = logging.getLogger(__name__)

# Our own nodes, called directly by a plan: (the frames' tickets, inputs as ComfyUI's lists) →
# output lists, with ComfyUI's semantics for lists and execution blockers. One ticket per frame:
# several when the plan runs a batch (``batch.py``), whose frames are one IMAGE batch. io_nodes.py
# fills this when ComfyUI imports it; the functions hold no stream state.
OwnNode = Callable[[Sequence[Ticket], dict[str, list[Any]]], list[list[Any]]]
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
            return step.own(tickets, inputs)
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
