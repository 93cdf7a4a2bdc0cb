"""Batching waiting frames (``TRICKLE_BATCH``, docs/comfyui.md): when frames queue — of one stream,
or of several streams running the same workflow — the lease runs them as one IMAGE batch
``[B, H, W, C]`` through a frame plan and splits the result, picture ``i`` to frame ``i``.

Which frames join (:meth:`Batches.gather`, on ComfyUI's worker thread under the lease's lock):
the frame the lease picked (the *lead*), then further waiting frames of the lead's stream in queue
order, then those of other streams, up to ``TRICKLE_BATCH`` frames — only frames of the lead's
size, only of streams whose current workflow version has an active frame plan and is the same
graph (same nodes, inputs and parameter values) as the lead's. The batch runs through the lead's
plan (its constants: the model, the text encodings); each frame keeps its own ticket, so pts,
per-stream counters, preview and digests stay per frame.

A workflow is not batched (its frames run one at a time, the reason logged once and shown in
``/trickle/status`` → ``private_executor.batch.refused``) when its plan's nodes read
``TrickleInput``'s ``frame_index`` or ``timestamp`` (one value for the whole batch), when its
output has another number of pictures than the batch had frames (the frames are then run again
one at a time), or when a batch failed and the same frames one at a time did not (a node that
cannot take a batch). A batch that fails and whose frames fail one at a time too is a workflow
error: each stream gets its own frame's error; later batches of that workflow that fail report
their error to every stream of the batch without running the frames again, until one succeeds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import weakref
from collections.abc import Sequence

from ..trickle.media.frame_queue import QueueClosed
from ..trickle.media.frames import VideoFrame
from .bindings import Ticket
from .comfy_host import PromptResult
from .frame_plan import BatchRefused, FramePlan, PlanBroken, PlanStale
from .graph import Workflow
from .lease_job import JobFrames, LeaseJob

log = logging.getLogger(__name__)

REFUSED_KEPT = 256  # workflows remembered as not batchable
PER_FRAME_OUTPUTS = (3, 4)  # TrickleInput's frame_index and timestamp: one value per batch

Item = tuple[LeaseJob, Ticket]


def workflow_key(workflow: Workflow, outputs: Sequence[str]) -> str:
    """Equal for two streams exactly when they run the same graph with the same values (a sha1
    of its canonical JSON)."""
    text = json.dumps([workflow, sorted(outputs)], sort_keys=True, default=repr)
    return hashlib.sha1(text.encode()).hexdigest()


def reads_per_frame_values(plan: FramePlan) -> str | None:
    """Why the plan's frames cannot share one batch: a node reads ``TrickleInput``'s
    ``frame_index`` or ``timestamp``; else None."""
    inputs = {s.node_id for s in plan.steps if s.class_type == "TrickleInput"}
    for step in plan.steps:
        for name, (source, slot) in step.links.items():
            if source in inputs and slot in PER_FRAME_OUTPUTS:
                what = "frame_index" if slot == PER_FRAME_OUTPUTS[0] else "timestamp"
                return f"node {step.node_id} ({step.class_type}) reads {what} ({name})"
    return None


class Batches:
    """Gathers and runs batches (see the module text); one per lease runner."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.refused: dict[str, str] = {}  # workflow key → why its frames run one at a time
        self._failing: set[str] = set()  # keys whose batch errors were confirmed one at a time
        self._keys: weakref.WeakKeyDictionary[LeaseJob, tuple[int, str]] = (
            weakref.WeakKeyDictionary()
        )

    def state(self) -> dict[str, object]:
        return {"max": self.limit, "refused": sorted(set(self.refused.values()))}

    # -- which frames (worker thread, under the lease's lock) --------------------------------

    def gather(self, lead: LeaseJob, ticket: Ticket, jobs: Sequence[LeaseJob]) -> list[Item]:
        """The lead's ticket and the waiting frames that can run in one batch with it, taken
        from their queues (each job's frames in queue order; their jobs marked busy)."""
        items: list[Item] = [(lead, ticket)]
        frame = ticket.frame
        if self.limit < 2 or frame is None:
            return items
        key = self._eligible(lead)
        if key is None:
            return items
        ticket.version = lead.current()[2]
        shape = frame.image.shape

        def same_size(candidate: VideoFrame) -> bool:
            return candidate.image.shape == shape

        for job in (lead, *(j for j in jobs if j is not lead)):
            if job is not lead:
                if not job.enabled or job.busy or job.binding.stopped.is_set():
                    continue
                if self._eligible(job) != key:
                    continue
            while len(items) < self.limit:
                try:
                    taken = job.input.take_if(same_size)
                except QueueClosed:  # the lease's next look marks the stream ended
                    break
                if taken is None:
                    break
                job.busy = True
                job.binding.latest_input = taken
                joined = job.ticket(taken)
                joined.version = job.current()[2]
                items.append((job, joined))
            if len(items) >= self.limit:
                break
        return items

    def _eligible(self, job: LeaseJob) -> str | None:
        """The job's workflow key when its current version can be batched, else None."""
        workflow, outputs, version = job.current()
        plan = job.plan if job.plan_version == version else None
        if plan is None:
            return None
        cached = self._keys.get(job)
        if cached is None or cached[0] != version:
            cached = (version, workflow_key(workflow, outputs))
            self._keys[job] = cached
            why = reads_per_frame_values(plan)
            if why is not None:
                self._refuse(cached[1], why)
        return None if cached[1] in self.refused else cached[1]

    def _refuse(self, key: str, why: str) -> None:
        if key not in self.refused:
            if len(self.refused) >= REFUSED_KEPT:  # the oldest workflow's note goes
                self.refused.pop(next(iter(self.refused)))
            log.info("trickle-live: frames of this workflow run one at a time (%s)", why)
            self.refused[key] = why

    # -- running one batch (worker thread, inside the lease) ----------------------------------

    async def run(self, frames: JobFrames, items: Sequence[Item]) -> list[PromptResult]:
        """One result per item, in order: the batch through the lead's plan, or its frames one
        at a time where the batch cannot stand for them."""
        lead, first = items[0]
        plan = lead.plan
        cached = self._keys.get(lead)
        if plan is None or cached is None:  # (gather checked both)
            return await one_by_one(frames, items)
        key = cached[1]
        try:
            result = await plan.run(first, *(t for _, t in items[1:]))
        except BatchRefused as exc:
            self._refuse(key, str(exc))
            return await one_by_one(frames, items)
        except (PlanStale, PlanBroken):  # the jobs' own runs rebuild or give up their plans
            return await one_by_one(frames, items)
        if not result.ok and result.error != "interrupted" and key not in self._failing:
            results = await one_by_one(frames, items)
            if all(r.ok for r in results):
                self._refuse(key, f"a batch failed where single frames did not: {result.error}")
            else:
                self._failing.add(key)
            return results
        if result.ok:
            self._failing.discard(key)
        counters = frames.counters
        counters["plan_frames"] += len(items)
        counters["batches"] = counters.get("batches", 0) + 1
        counters["batched_frames"] = counters.get("batched_frames", 0) + len(items)
        if any(job is not lead for job, _ in items):
            counters["shared_batches"] = counters.get("shared_batches", 0) + 1
        seen: list[LeaseJob] = []
        for job, _ in items:
            job.node_runs.update(step.class_type for step in plan.steps)
            if job not in seen:
                seen.append(job)
                if job.plan is not None:
                    frames.keep_constants(job, job.plan)
        return [result] * len(items)


async def one_by_one(frames: JobFrames, items: Sequence[Item]) -> list[PromptResult]:
    """Each frame as the lease runs a single one (its job's plan or executor)."""
    results = []
    for job, ticket in items:
        workflow, outputs, ticket.version = job.current()
        results.append(await frames.run(job, ticket, workflow, outputs, False))
    return results
