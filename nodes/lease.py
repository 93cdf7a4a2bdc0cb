"""Frames run by private executors inside one queued "lease" prompt (docs/comfyui.md, the faster path).

The runner keeps one lease prompt in ComfyUI's own queue: a graph of a single
``TrickleStreamHost`` node. When ComfyUI's worker runs it, that node calls :meth:`LeaseRunner.serve`,
which takes the streams' frames and runs each through the stream's private ``PromptExecutor``
(``private_exec.py``) on the worker's own thread and loop. The stock worker is busy with the lease
meanwhile, so nothing else touches ComfyUI's global state: that is the mutual-exclusion gate.

A lease ends — and the runner queues the next one at once — when the editor (or anybody) queued a
prompt, asked ComfyUI to free memory, interrupted a frame, after ``SLICE_S`` seconds, or when no
stream is left. So an editor's Run waits at most for the frame in progress, and the stream goes
on right after it. Per frame there is no queue item, no history entry, no status broadcast and no
hand-over between the server loop and the worker thread.

Threads: ``add``/``remove``/``warm_up`` and the keeper task run on the server loop; ``serve``
runs on ComfyUI's worker thread. How one frame runs (frame plan or executor): ``lease_job.py``;
waiting frames run as one batch with ``TRICKLE_BATCH``: ``batch.py``. Results go back through each
job's ``on_result`` (worker thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sys
import threading
import time
import uuid
from typing import Any

from ..trickle.media.frame_queue import QueueClosed
from ..trickle.timeouts import with_timeout
from .batch import Batches, Item
from .bindings import REGISTRY, Ticket
from .comfy_host import PROMPT_PREFIX, ComfyHost, PromptResult
from .frame_plan import PlanMaker
from .graph import Workflow
from .lease_job import JobFrames, LeaseJob
from .private_exec import PrivateExecution
from .waker import Waker
from .warmup import warm_up_ticket

log = logging.getLogger(__name__)

HOST_NODE = "TrickleStreamHost"
LEASE_WORKFLOW: Workflow = {"1": {"class_type": HOST_NODE, "inputs": {}}}
LEASE_OUTPUTS = ["1"]
SLICE_S = 30.0  # a lease gives the worker back at least this often
IDLE_WAIT = 0.05  # longest wait for a frame before the lease looks at the queue again
KEEP_INTERVAL = 0.5  # how often the keeper looks for a lease removed by someone else
# While a lease serves frames, the interpreter hands the GIL over after 1 ms instead of 5: the
# decode, worker and encode threads each release it around native work (PyAV, numpy, x264) and
# otherwise wait up to the interval to get it back. Measured fed as fast as possible (passthrough,
# 512x512, three A/B pairs): 203-218 -> 250-296 frames/s. Restored when the lease ends.
SWITCH_INTERVAL = 0.001


class LeaseRunner:
    """The process-wide runner (one per ComfyUI): see the module text."""

    _instance: LeaseRunner | None = None

    def __init__(
        self,
        host: ComfyHost,
        execution: PrivateExecution,
        plans: PlanMaker | None = None,
        plans_off: str = "",
        batch: int = 1,
    ) -> None:
        self.host = host
        self.execution = execution
        self.jobs: list[LeaseJob] = []
        self.lease_id: str | None = None  # queued or running
        self.serving: str | None = None  # the lease whose node is running now
        self.counters = {"leases": 0, "frames": 0, "warmups": 0, "plan_frames": 0,
                         "batches": 0, "batched_frames": 0, "shared_batches": 0}  # fmt: skip
        self.frames = JobFrames(execution, plans, plans_off, self.counters)
        self.batches = Batches(batch)  # TRICKLE_BATCH (batch.py)
        self.frame_cpu_s = 0.0  # worker-thread CPU spent running live frames (all of them)
        # of it, our nodes' frame <-> IMAGE conversions (``Ticket.convert_s``)
        self.convert_cpu_s = 0.0
        # the worker thread's CPU over whole leases (waiting for frames, the loop, the frames),
        # warm-ups left out; during a lease, read live from the thread's CPU clock (``stats``)
        self.worker_cpu_s = 0.0
        self._serve_clock: int | None = None
        self._serve_began = 0.0
        self.last_end = ""  # why the last lease ended
        self._issued: set[str] = set()
        self._lock = threading.Lock()
        self._ready = threading.Event()  # a job's input got a frame (or closed), or work came
        self._wake = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._rr = 0

    @classmethod
    def get(
        cls, host: ComfyHost, plans: bool = True, batch: int = 1
    ) -> tuple[LeaseRunner | None, str | None]:
        """The runner of this ComfyUI, or (None, why) when its executor does not fit; ``plans``:
        frame plans on (``RunnerConfig.frame_plan``); ``batch``: the most frames run as one batch
        (``RunnerConfig.batch``, ``TRICKLE_BATCH``)."""
        if cls._instance is None or cls._instance.host is not host:
            execution, reason = PrivateExecution.for_comfyui(host.server)
            if execution is None:
                return None, reason
            maker, off = PlanMaker.for_comfyui(host.server, plans)
            if maker is None:
                log.info("trickle-live: frame plans off (%s)", off)
            cls._instance = cls(host, execution, maker, off or "", batch)
        return cls._instance, None

    @classmethod
    def current(cls) -> LeaseRunner | None:
        return cls._instance

    def owns(self, prompt_id: str | None) -> bool:
        return prompt_id is not None and prompt_id in self._issued

    # -- server loop --------------------------------------------------------------------------

    def add(self, job: LeaseJob) -> None:
        with self._lock:
            self.jobs.append(job)
        job.input.add_listener(self._ready.set)
        self._ready.set()
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep(), name="lease")

    async def remove(self, job: LeaseJob, timeout: float = 10.0) -> None:
        """Take the job out; returns once none of its frames runs any more."""
        with self._lock:
            if job in self.jobs:
                self.jobs.remove(job)
        job.input.remove_listener(self._ready.set)
        while job.warmups:
            _, future = job.warmups.popleft()
            future.cancel()
        self._ready.set()
        deadline = time.monotonic() + timeout
        while job.busy and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if job.busy:
            log.warning("a frame of a removed stream is still running after %.0fs", timeout)

    async def warm_up(
        self, job: LeaseJob, size: tuple[int, int], timeout: float = 300.0
    ) -> PromptResult | None:
        """Run the job's workflow once on a test frame (loads models into its executor's cache)."""
        ticket = warm_up_ticket(size)
        ticket.frame = ticket.binding.io.input.get(0)  # the lease hands frames over taken
        future: concurrent.futures.Future[PromptResult] = concurrent.futures.Future()
        job.warmups.append((ticket, future))
        self._ready.set()
        try:
            return await with_timeout(asyncio.wrap_future(future), timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            future.cancel()  # no effect once it ran

    async def _keep(self) -> None:
        """Keep one lease queued or running while there are jobs."""
        waker = Waker(asyncio.get_running_loop(), self._wake)
        self.host.add_listener(waker, stream=False)
        try:
            while self.jobs:
                if self.lease_id is None:
                    self._queue_lease()
                with contextlib.suppress(asyncio.TimeoutError):
                    await with_timeout(self._wake.wait(), KEEP_INTERVAL)
                self._wake.clear()
                self._look_at_lease()
        finally:
            lease, self.lease_id = self.lease_id, None
            if lease is not None:
                self.host.cancel_queued({lease})
                if self.host.take_result(lease) is None:
                    self.host.forget(lease)  # still running: its entry goes when it finishes
                self._issued.discard(lease)
            self.host.remove_listener(waker, stream=False)  # after forget: hooks stay till then

    def _queue_lease(self) -> None:
        lease = f"{PROMPT_PREFIX}lease-{uuid.uuid4().hex}"
        self._issued.add(lease)
        self.lease_id = lease
        self.counters["leases"] += 1
        self.host.put(lease, LEASE_WORKFLOW, LEASE_OUTPUTS)

    def _look_at_lease(self) -> None:
        lease = self.lease_id
        if lease is None:
            return
        result = self.host.take_result(lease)
        if result is None:
            if self.serving == lease or self.host.is_pending(lease):
                return
            log.info("trickle-live: lease %s left the queue unfinished; queueing another", lease)
            self.host.forget(lease)
        elif not result.ok:
            log.info("trickle-live: lease %s ended with %s", lease, result.error)
        self._issued.discard(lease)
        self.lease_id = None
        self._wake.set()  # queue the next one now

    # -- ComfyUI's worker thread --------------------------------------------------------------

    async def serve(self, lease: str) -> str:
        """Run frames until the lease should end; returns why it ended."""
        self.serving = lease
        clock = _thread_clock()
        with self._lock:
            self._serve_clock, self._serve_began = clock, _cpu(clock)
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, SWITCH_INTERVAL))
        saved = self.execution.save()
        deadline = time.monotonic() + SLICE_S
        try:
            while True:
                reason = self._end_reason(deadline)
                if reason is not None:
                    break
                self._ready.clear()
                work = self._next()
                if work is None:
                    self._ready.wait(IDLE_WAIT)
                    continue
                job, ticket, future = work
                batch = self._gather(job, ticket) if future is None else []
                if len(batch) > 1:
                    result = await self._run_batch(batch)
                else:
                    result = await self._run(job, ticket, future)
                if result.error == "interrupted":
                    reason = "interrupted"
                    break
        finally:
            self.execution.restore(saved)
            sys.setswitchinterval(switch)
            with self._lock:
                self.worker_cpu_s += _cpu(clock) - self._serve_began
                self._serve_clock = None
            self.serving = None
        self.last_end = reason
        return reason

    def _end_reason(self, deadline: float) -> str | None:
        if not self.jobs:
            return "no stream"
        queue = self.host.queue
        if getattr(queue, "queue", None):
            return "prompt waiting"
        if getattr(queue, "flags", None):
            return "worker flags"
        if self.execution.interrupted():
            return "interrupted"
        if time.monotonic() >= deadline:
            return "slice"
        return None

    def _next(
        self,
    ) -> tuple[LeaseJob, Ticket, concurrent.futures.Future[PromptResult] | None] | None:
        with self._lock:
            jobs = list(self.jobs)
            for job in jobs:
                while job.warmups:
                    ticket, future = job.warmups.popleft()
                    if future.set_running_or_notify_cancel():
                        job.busy = True
                        return job, ticket, future
            count = len(jobs)
            for step in range(count):
                index = (self._rr + step) % count
                job = jobs[index]
                if not job.enabled or job.binding.stopped.is_set():
                    continue
                try:
                    frame = job.input.get(timeout=0)
                except QueueClosed:
                    job.binding.ended.set()
                    continue
                if frame is None:
                    continue
                self._rr = index + 1
                job.busy = True
                job.binding.latest_input = frame
                return job, job.ticket(frame), None
        return None

    def _gather(self, job: LeaseJob, ticket: Ticket) -> list[Item]:
        with self._lock:
            return self.batches.gather(job, ticket, list(self.jobs))

    async def _run_batch(self, items: list[Item]) -> PromptResult:
        """Several waiting frames as one batch (``batch.py``); the lead's result."""
        began = time.thread_time()
        try:
            for _, ticket in items:
                REGISTRY.add(ticket)
            try:
                results = await self.batches.run(self.frames, items)
            except Exception as exc:  # the executor itself broke: these frames fail
                log.exception("trickle-live: running a batch failed")
                failed = PromptResult(
                    False, f"executor failed: {exc}", {"exception": type(exc).__name__}
                )
                results = [failed] * len(items)
            finally:
                for _, ticket in items:
                    REGISTRY.pop(ticket.prompt_id)
            for (job, ticket), result in zip(items, results, strict=True):
                self.counters["frames"] += 1
                self.convert_cpu_s += ticket.convert_s
                job.on_result(ticket, result)
                job.timing.add(received_at(ticket), ticket.queued_at, time.monotonic())
            self.frame_cpu_s += time.thread_time() - began
            return next((r for r in results if r.error == "interrupted"), results[0])
        finally:
            for job, _ in items:
                job.busy = False

    async def _run(
        self,
        job: LeaseJob,
        ticket: Ticket,
        future: concurrent.futures.Future[PromptResult] | None,
    ) -> PromptResult:
        began = time.thread_time()
        try:
            workflow, outputs, ticket.version = job.current()
            REGISTRY.add(ticket)
            try:
                result = await self.frames.run(job, ticket, workflow, outputs, future is not None)
            except Exception as exc:  # the executor itself broke: this frame fails, not the lease
                log.exception("trickle-live: private executor failed")
                result = PromptResult(
                    False, f"executor failed: {exc}", {"exception": type(exc).__name__}
                )
            finally:
                REGISTRY.pop(ticket.prompt_id)
            if future is not None:
                self.counters["warmups"] += 1
                with self._lock:  # a warm-up (model loading) is not a live frame's cost
                    self.worker_cpu_s -= time.thread_time() - began
                future.set_result(result)
            else:
                self.counters["frames"] += 1
                self.convert_cpu_s += ticket.convert_s
                job.on_result(ticket, result)
                job.timing.add(received_at(ticket), ticket.queued_at, time.monotonic())
                self.frame_cpu_s += time.thread_time() - began
            return result
        finally:
            job.busy = False

    def worker_cpu(self) -> float:
        """The worker thread's CPU seconds over all leases so far, warm-ups left out (the
        running lease included, read from the worker's CPU clock)."""
        with self._lock:
            spent = self.worker_cpu_s
            if self._serve_clock is not None:
                spent += max(0.0, _cpu(self._serve_clock) - self._serve_began)
        return spent

    def stats(self) -> dict[str, Any]:
        frames = self.counters["frames"]

        def per_frame(seconds: float) -> float | None:
            return round(1e3 * seconds / frames, 3) if frames else None

        return {
            **self.counters,
            "cpu_ms_per_frame": per_frame(self.frame_cpu_s),
            "conversion_ms_per_frame": per_frame(self.convert_cpu_s),
            "worker_cpu_ms_per_frame": per_frame(self.worker_cpu()),
            "lease": self.lease_id,
            "serving": self.serving is not None,
            "last_end": self.last_end,
            "frame_plans": self.frames.plans_state(),
            "batch": self.batches.state(),
        }


def _thread_clock() -> int | None:
    """The calling thread's CPU clock, readable from other threads (None where there is none)."""
    try:
        return time.pthread_getcpuclockid(threading.get_ident())
    except (AttributeError, OSError):
        return None


def _cpu(clock: int | None) -> float:
    """CPU seconds of the thread whose clock this is; without one, the calling thread's."""
    if clock is None:
        return time.thread_time()
    try:
        return time.clock_gettime(clock)
    except OSError:  # the thread is gone (its lease has ended: not counted live)
        return 0.0


def received_at(ticket: Ticket) -> float:
    return ticket.frame.received_at if ticket.frame is not None else 0.0


async def serve_lease(prompt_id: str | None) -> str | None:
    """Called by the ``TrickleStreamHost`` node: serve frames when the lease is ours."""
    runner = LeaseRunner.current()
    if runner is None or not runner.owns(prompt_id):
        return None  # queued by hand (from the editor): nothing to do
    assert prompt_id is not None
    return await runner.serve(prompt_id)
