"""The ComfyUI driver: a ``FrameProcessor`` that runs the stream's workflow once per frame.

The workflow is validated once (at start and on each change), warmed up on a test frame, then run
for every frame by one of two executors: by default (``private``) the stream's own
``PromptExecutor`` inside a lease prompt that holds ComfyUI's worker (``lease.py``,
``private_exec.py``); with ``queue`` (``TRICKLE_EXECUTOR=queue``, or a ComfyUI whose executor does
not fit the adapter) one prompt per frame in ComfyUI's own queue (``queue_frames.py``, docs/comfyui.md).
The settings (executor, frame plans, output digests) come from the ``RunnerConfig`` read at start.
``TrickleInput`` takes the frame, ``TrickleOutput`` puts the result on the output queue with the
input's pts. A failing frame becomes an ``error`` event and the input frame is published in its
place, so the stream keeps going and recovers when the workflow does. Updates are validated and
swapped in on the server loop; only the host and the executors touch ComfyUI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from ..trickle.config import RunnerConfig
from ..trickle.errors import ValidationError
from ..trickle.logtext import printable
from ..trickle.session.processor import FrameIO, ProcessorState, ProcessorStatus
from ..trickle.timeouts import with_timeout
from . import gc_freeze
from .bindings import REGISTRY, StreamBinding, Ticket
from .comfy_host import ComfyHost, PromptResult
from .graph import Workflow, adapt, describe, looks_like_workflow
from .lease import LeaseJob, LeaseRunner
from .params import Update, apply, classify
from .queue_frames import QueueFrames
from .store import PASSTHROUGH, WorkflowStore, load_bundled, select_workflow
from .waker import Waker
from .warmup import warm_up, warm_up_size

log = logging.getLogger(__name__)

ERROR_REPORT_INTERVAL = 5.0  # the same failure is reported at most this often


class ComfyProcessor(ProcessorStatus):
    def __init__(
        self,
        host: Callable[[], ComfyHost] = ComfyHost.get,
        *,
        params: dict[str, Any] | None = None,
        model_id: str | None = None,
        store: WorkflowStore | None = None,
        ahead: int = 2,
        frame_wait: float = 1.0,
        config: RunnerConfig | None = None,
    ) -> None:
        self._host_factory = host
        self._params = params
        self._model_id = model_id
        self._store = store
        self.ahead = max(1, ahead)
        self.frame_wait = frame_wait
        self._config = config or RunnerConfig()
        self.executor = "queue"  # the one in use, known once loaded
        self._runner: LeaseRunner | None = None
        self._job: LeaseJob | None = None
        self._queue: QueueFrames | None = None
        self._failing = False  # the last frame failed (the view of the thread that settles)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._state = ProcessorState.LOADING
        self._last_error: str | None = None
        self._host: ComfyHost | None = None
        self._io: FrameIO | None = None
        self._binding: StreamBinding | None = None
        self._task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()
        self._wake = asyncio.Event()
        self._update_lock = asyncio.Lock()
        self._workflow: Workflow = {}
        self._outputs: list[str] = []
        self._version = 0
        self._last_report: dict[str, float] = {}
        self._wake_threadsafe: Callable[[], object] = lambda: None
        self._gc_frozen = False  # holds a gc_freeze reference while the stream runs
        self.counters = {"prompts": 0, "frames": 0, "errors": 0, "no_frame": 0, "passthrough": 0}
        self.source = ""

    @property
    def workflow(self) -> Workflow:
        return self._workflow

    def stats(self) -> dict[str, Any]:
        """For the status API: counters, workflow version and live parameter values."""
        return {
            "source": self.source,
            "executor": self.executor,
            "version": self._version,
            "state": self._state.value,
            "last_error": self._last_error,
            "frame_plan": self._job.plan_state() if self._job is not None else None,
            "node_runs": dict(self._job.node_runs) if self._job is not None else None,
            "timing_ms": self._job.timing.summary() if self._job is not None else None,
            **self._digests(),
            **self.counters,
            **describe(self._workflow),
        }

    def _digests(self) -> dict[str, Any]:
        """``output_digests`` (pts → sha1 of the published picture) when TRICKLE_OUTPUT_DIGESTS
        keeps any."""
        binding = self._binding
        if binding is None or binding.digests is None:
            return {}
        with binding.digests_lock:
            return {"output_digests": {str(k): v for k, v in binding.digests.items()}}

    async def start(self, io: FrameIO) -> None:
        self._io = io
        self._binding = StreamBinding(
            io, frame_wait=self.frame_wait, digests=self._config.output_digests
        )
        if self._params is None:
            self._params = dict(io.params)
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"comfy:{io.stream_id}"
        )

    async def _run(self) -> None:
        try:
            await self._load()
            await self._pump()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # task boundary: the stream goes on, the failure is reported
            log.exception("ComfyUI driver of stream %s failed", printable(self._stream_id))
            self._fail(f"driver failed: {exc}", {"exception": type(exc).__name__})
        finally:
            self._loaded.set()

    @property
    def _stream_id(self) -> str:
        return self._io.stream_id if self._io is not None else "?"

    # -- loading ------------------------------------------------------------------------------

    async def _load(self) -> None:
        assert self._io is not None and self._binding is not None
        host = self._host = self._host_factory()
        self._loop = asyncio.get_running_loop()
        gc_freeze.stream_started()  # before the warm-up: its first prompt lets ComfyUI collect
        self._gc_frozen = True
        workflow, source = select_workflow(
            self._params, self._model_id, self._store, self._config.workflow
        )
        notes: list[str] = []
        try:
            notes = await self._set_workflow(workflow)
            self.source = source
        except ValidationError as exc:
            self._report_error(f"workflow from {source} refused: {exc}", exc.as_dict())
            fallback = load_bundled(PASSTHROUGH)
            assert fallback is not None
            await self._set_workflow(fallback)
            self.source = f"bundled passthrough (after: {exc})"
        initial = {  # a text `prompt` is a live parameter; a workflow `prompt(s)` was used above
            k: v
            for k, v in (self._params or {}).items()
            if k not in ("prompt", "prompts") or not looks_like_workflow(v)
        }
        if initial:  # before the warm-up, so it loads and runs what the frames will run
            with contextlib.suppress(ValidationError):
                await self._apply(initial)
        self._wake_threadsafe = Waker(asyncio.get_running_loop(), self._wake)
        host.add_listener(self._wake_threadsafe)
        self._choose_executor(host)
        await self._warm_up()
        REGISTRY.add_binding(self._binding)
        if self._job is not None:
            self._job.enabled = True
        if self._state is ProcessorState.LOADING:
            self._state = ProcessorState.READY
        self._loaded.set()
        loaded = {"source": self.source, "mapped": notes, **describe(self._workflow)}
        self._io.report_info("workflow loaded", loaded)

    def _choose_executor(self, host: ComfyHost) -> None:
        assert self._binding is not None
        if self._config.executor == "private":
            runner, reason = LeaseRunner.get(host, self._config.frame_plan, self._config.batch)
            if runner is None:
                self._io_info("private executor unavailable, using ComfyUI's queue", reason)
            else:
                self._runner = runner
                self._job = LeaseJob(
                    self._binding,
                    runner.execution.new_executor(),
                    self._current,
                    self._on_lease_result,
                )
                runner.add(self._job)
        if self._runner is None:
            self._queue = QueueFrames(
                host, self._binding, self._current, self._settle, self.counters,
                ahead=self.ahead, name=self._stream_id,
            )  # fmt: skip
        self.executor = "private" if self._runner is not None else "queue"
        log.info("stream %s: executor %s", printable(self._stream_id), self.executor)

    def _io_info(self, message: str, reason: str | None) -> None:
        log.warning("stream %s: %s (%s)", printable(self._stream_id), message, reason)
        if self._io is not None:
            self._io.report_info(message, {"reason": reason})

    def _current(self) -> tuple[Workflow, list[str], int]:
        """What the next frame runs (read on the worker thread; replaced whole on updates)."""
        return self._workflow, self._outputs, self._version

    async def _warm_up(self) -> None:
        assert self._host is not None
        began = time.monotonic()
        size = warm_up_size(self._params)
        if self._runner is not None and self._job is not None:
            result = await self._runner.warm_up(self._job, size)
        else:
            result = await warm_up(self._host, self._workflow, self._outputs, self._wake, size)
        if result is None or not result.ok:
            error = "no answer" if result is None else result.error
            self._fail(f"warm-up failed: {error}", {} if result is None else result.detail)
        else:
            log.info(
                "stream %s: warm-up took %.2fs",
                printable(self._stream_id),
                time.monotonic() - began,
            )

    async def _set_workflow(self, workflow: Workflow) -> list[str]:
        assert self._host is not None
        adapted, notes = adapt(workflow)
        outputs = await self._host.validate(adapted)
        self._workflow, self._outputs = adapted, outputs
        self._version += 1
        return notes

    # -- the per-frame loop -------------------------------------------------------------------

    async def _pump(self) -> None:
        binding = self._binding
        assert binding is not None
        if self._queue is not None:
            await self._queue.run(self._wake)
            return
        while not binding.stopped.is_set() and not binding.ended.is_set():  # the lease runs them
            with contextlib.suppress(asyncio.TimeoutError):
                await with_timeout(self._wake.wait(), 0.5)
            self._wake.clear()

    def _settle(self, ticket: Ticket, result: PromptResult) -> None:
        """A frame's outcome, on any thread (the loop for the queue executor, ComfyUI's worker for
        the private one): counters and the published picture here, state and events on the
        loop, in order."""
        if ticket.frame is None:  # queue executor: the prompt got no frame
            self.counters["no_frame"] += 1
            if result.ok or ticket.binding.stopped.is_set():
                return
        if result.ok:
            self.counters["frames"] += 1
            if not ticket.delivered:  # the graph skipped its output: keep the stream going
                self._publish_input(ticket)
            if self._failing or self._state is ProcessorState.ERROR:
                self._failing = False
                self._call_on_loop(self._recovered)
            return
        self.counters["errors"] += 1
        self._publish_input(ticket)
        self._failing = True
        self._call_on_loop(self._fail, result.error or "workflow failed", result.detail)

    def _on_lease_result(self, ticket: Ticket, result: PromptResult) -> None:
        self.counters["prompts"] += 1
        self._settle(ticket, result)

    def _call_on_loop(self, callback: Callable[..., object], *args: Any) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                self._loop.call_soon_threadsafe(callback, *args)

    def _recovered(self) -> None:
        if self._state is ProcessorState.ERROR and self._io is not None:
            self._state = ProcessorState.READY
            self._io.report_info("workflow recovered", {"errors": self.counters["errors"]})

    def _publish_input(self, ticket: Ticket) -> None:
        if ticket.frame is not None and not ticket.delivered and self._io is not None:
            ticket.delivered = True
            self.counters["passthrough"] += 1
            self._io.output.put(ticket.frame)

    def _fail(self, message: str, detail: dict[str, Any]) -> None:
        self._state = ProcessorState.ERROR
        self._last_error = message
        self._report_error(message, detail)

    def _report_error(self, message: str, detail: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._last_report.get(message, -1e9) < ERROR_REPORT_INTERVAL:
            return
        self._last_report[message] = now
        log.warning("stream %s: %s", printable(self._stream_id), message)
        if self._io is not None:
            self._io.report_error(message, {**detail, "errors": self.counters["errors"]})

    # -- updates ------------------------------------------------------------------------------

    async def update(self, params: dict[str, Any]) -> dict[str, Any]:
        """Validate, then apply between two frames: prompts queued from now on use the result."""
        await with_timeout(self._loaded.wait(), 60)
        return await self._apply(params)

    async def _apply(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._host is None or self._io is None or not self._workflow:
            raise ValidationError("stream", "a stream whose workflow is loaded", self._state.value)
        async with self._update_lock:
            try:
                update = classify(params, self._workflow)
                notes: list[str] = []
                base = self._workflow
                if update.workflow is not None:
                    base, notes = adapt(update.workflow)
                patched, applied = apply(base, Update(None, update.patches), self._host.schemas)
                if update.workflow is None and not applied:
                    return {"applied": {}, "ignored": update.ignored}
                outputs = await self._host.validate(patched)
            except ValidationError as exc:
                self._report_error(f"update refused: {exc}", exc.as_dict())
                raise
            self._workflow, self._outputs = patched, outputs
            self._version += 1
        report = {"applied": applied, "ignored": update.ignored, "version": self._version}
        if update.workflow is not None:
            report["workflow"] = describe(patched)
            report["mapped"] = notes
        if self._io is not None:
            what = "workflow switched" if update.workflow else "parameters applied"
            self._io.report_info(what, report)
        return report

    # -- stop ---------------------------------------------------------------------------------

    async def stop(self) -> None:
        if self._state is ProcessorState.STOPPED:
            return
        self._state = ProcessorState.STOPPED
        binding = self._binding
        if binding is not None:
            binding.stopped.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._runner is not None and self._job is not None:
            await self._runner.remove(self._job)
            self._job = None
        if self._queue is not None:
            await self._queue.drain()
        if self._host is not None:
            self._host.remove_listener(self._wake_threadsafe)
        if binding is not None:
            REGISTRY.remove_binding(binding)
        if self._gc_frozen:
            self._gc_frozen = False
            gc_freeze.stream_stopped()
        self._io = None
        self._binding = None
