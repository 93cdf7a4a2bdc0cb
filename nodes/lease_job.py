"""One stream's job in the lease (``lease.py``), and how one of its frames is run: by the frame
plan of its workflow version (``frame_plan.py``), else by the stream's private executor, whose
successful run is what the next plan is built from (also ``frame_plan.py``)."""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import uuid
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from ..trickle.media.frame_queue import FrameQueue
from ..trickle.media.frames import VideoFrame
from .bindings import StreamBinding, Ticket
from .comfy_host import PROMPT_PREFIX, PromptResult
from .frame_plan import FramePlan, PlanBroken, PlanMaker, PlanRefused, PlanStale
from .graph import Workflow
from .private_exec import PrivateExecution

log = logging.getLogger(__name__)

STALE_LIMIT = 3  # a plan out of date this many times in a row is given up for the version

Current = Callable[[], tuple[Workflow, list[str], int]]
OnResult = Callable[[Ticket, PromptResult], None]


TIMING_SAMPLES = 300  # frames whose timing a job keeps


class FrameTiming:
    """Where a stream's frames spend their time before the encoder, for ``/trickle/status``
    (``timing_ms``): ``waited`` from the frame's bytes reaching the decoder to the lease taking
    it (decode and queue wait), ``ran`` from taken to its result handed over (the graph; for a
    batch, the whole batch). The rest of the stream's latency is the hand-over to the encoder."""

    def __init__(self) -> None:
        self._waited: deque[float] = deque(maxlen=TIMING_SAMPLES)
        self._ran: deque[float] = deque(maxlen=TIMING_SAMPLES)

    def add(self, received_at: float, taken_at: float, done_at: float) -> None:
        if received_at > 0:  # (written on the worker thread only; deques append atomically)
            self._waited.append(taken_at - received_at)
        self._ran.append(done_at - taken_at)

    def summary(self) -> dict[str, float | None]:
        return {"waited_p50": _median_ms(self._waited), "ran_p50": _median_ms(self._ran)}


def _median_ms(samples: deque[float]) -> float | None:
    values = sorted(samples)
    return round(values[len(values) // 2] * 1000, 2) if values else None


class LeaseJob:
    """One stream as the runner sees it: its frames, its executor, its current workflow."""

    def __init__(
        self, binding: StreamBinding, executor: Any, current: Current, on_result: OnResult
    ) -> None:
        self.binding = binding
        self.executor = executor
        self.current = current
        self.on_result = on_result
        self.enabled = False  # live frames are taken once the warm-up ran
        self.busy = False  # a frame of this job is running (set under the runner's lock)
        self.warmups: deque[tuple[Ticket, concurrent.futures.Future[PromptResult]]] = deque()
        self._ids = itertools.count()
        self._prefix = f"{PROMPT_PREFIX}{uuid.uuid4().hex[:8]}-"
        self.plan: FramePlan | None = None  # for workflow version ``plan_version`` (frame_plan.py)
        self.plan_version = -1  # the version a plan was built (or refused) for
        self.plan_note = "not built yet"  # why there is none
        self.stale = 0  # plans gone out of date in a row (a watched node changed)
        self.node_runs: Counter[str] = Counter()  # class type → times it ran (not from cache)
        self.timing = FrameTiming()

    def plan_state(self) -> dict[str, Any]:
        if self.plan is not None:
            return {"active": True, "version": self.plan_version, **self.plan.describe()}
        return {"active": False, "reason": self.plan_note}

    def set_plan(self, version: int, plan: FramePlan | None, note: str) -> None:
        self.plan, self.plan_version, self.plan_note = plan, version, note

    @property
    def input(self) -> FrameQueue[VideoFrame]:
        return self.binding.io.input

    def ticket(self, frame: VideoFrame) -> Ticket:
        return Ticket(f"{self._prefix}{next(self._ids)}", self.binding, frame=frame)


class JobFrames:
    """Runs the jobs' frames on ComfyUI's worker thread (inside a lease): plan or executor."""

    def __init__(
        self,
        execution: PrivateExecution,
        plans: PlanMaker | None,
        plans_off: str,
        counters: dict[str, int],
    ) -> None:
        self.execution = execution
        self.plans = plans  # None: every frame through the executor (``plans_off`` says why)
        self.plans_off = plans_off
        self.counters = counters

    def plans_state(self) -> str:
        return "on" if self.plans is not None else f"off: {self.plans_off}"

    async def run(
        self, job: LeaseJob, ticket: Ticket, workflow: Workflow, outputs: list[str], warm_up: bool
    ) -> PromptResult:
        """One frame by the job's plan for this workflow version, else by its executor (which
        then leaves what a plan for the version is built from)."""
        plan = job.plan if job.plan_version == ticket.version else None
        if plan is not None and not warm_up:
            try:
                result = await plan.run(ticket)
            except PlanStale as exc:  # rebuilt from the executor's run of this frame (below)
                job.stale += 1
                if job.stale >= STALE_LIMIT:  # it changes on (nearly) every frame: no plan
                    log.info("trickle-live: no frame plan (%s on every frame)", exc)
                    job.set_plan(ticket.version, None, f"{exc} on every frame")
                else:
                    log.info("trickle-live: frame plan out of date (%s); rebuilding it", exc)
                    job.set_plan(-1, None, f"rebuilding: {exc}")
            except PlanBroken as exc:
                log.info("trickle-live: frame plan stopped (%s); the executor runs the frames", exc)
                job.set_plan(ticket.version, None, str(exc))
            else:
                job.stale = 0
                self.counters["plan_frames"] += 1
                job.node_runs.update(step.class_type for step in plan.steps)
                self.keep_constants(job, plan)
                return result
        before = cached_outputs(job.executor, workflow)
        result = await self.execution.run(job.executor, ticket.prompt_id, workflow, outputs)
        after = cached_outputs(job.executor, workflow)
        job.node_runs.update(
            workflow[n].get("class_type", "?") for n, entry in after.items() if entry is not None
            and entry is not before.get(n)
        )  # fmt: skip
        if result.ok and job.plan_version != ticket.version:
            self._build_plan(job, ticket.version, workflow, outputs)
        return result

    def keep_constants(self, job: LeaseJob, plan: FramePlan) -> None:
        """After a plan's frame, what the executor does after each node: let a RAM-pressure cache
        evict (``--cache-ram``). A constant evicted from the cache must not live on in the plan
        (it would keep a model in memory that ComfyUI meant to free): the plan is dropped, and the
        next frame's executor run computes it again and builds a new plan."""
        outputs = getattr(getattr(job.executor, "caches", None), "outputs", None)
        if outputs is None:
            return
        ram = self.execution.cache_args.get("ram", 0) if self.execution.cache_args else 0
        try:
            outputs.poll(ram_headroom=ram)
        except TypeError:  # BasicCache.poll(**kwargs) and RAMPressureCache.poll(ram_headroom)
            return
        gone = [n for n in plan.constants if outputs.get(n) is None]
        if gone:
            log.info("trickle-live: node %s left the cache; the frame plan is rebuilt", gone[0])
            job.set_plan(-1, None, f"rebuilding: node {gone[0]} left the cache")

    def _build_plan(
        self, job: LeaseJob, version: int, workflow: Workflow, outputs: list[str]
    ) -> None:
        if self.plans is None:
            job.set_plan(version, None, self.plans_off)
            return
        try:
            plan = self.plans.build(job.executor, workflow, outputs, self.execution.last_prompt)
        except PlanRefused as exc:
            log.info("trickle-live: no frame plan for this workflow (%s)", exc)
            job.set_plan(version, None, str(exc))
        except Exception as exc:  # a node's INPUT_TYPES or the like failed: the executor goes on
            log.exception("trickle-live: building a frame plan failed")
            job.set_plan(version, None, f"building failed: {exc}")
        else:
            job.set_plan(version, plan, "")


def cached_outputs(executor: Any, workflow: Workflow) -> dict[str, Any]:
    """Each node's cache entry in the executor (the same object while it is not run again)."""
    outputs = getattr(getattr(executor, "caches", None), "outputs", None)
    found: dict[str, Any] = {}
    if outputs is None:
        return found
    for node_id in workflow:
        try:
            found[node_id] = outputs.get(node_id)
        except Exception:  # a cache that has not seen this prompt yet
            found[node_id] = None
    return found
