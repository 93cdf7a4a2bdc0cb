"""The lease runner (``nodes/lease.py``) with a stand-in for ComfyUI's queue and worker thread.

The stand-in worker does what ``main.py: prompt_worker`` does with a lease: takes the next queued
item, runs it on its own thread and loop (the node awaits ``serve_lease``), records the result
and tells the queue's listeners. Frames go through a stand-in executor that does what the graph
TrickleInput → TrickleOutput does. The real ComfyUI: tests/comfyui/test_comfyui_stream.py.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from trickle_live.nodes.bindings import REGISTRY, StreamBinding, Ticket, deliver
from trickle_live.nodes.comfy_host import PromptResult
from trickle_live.nodes.lease import LeaseJob, LeaseRunner, serve_lease
from trickle_live.trickle.media.frame_queue import FrameQueue
from trickle_live.trickle.media.frames import VideoFrame
from trickle_live.trickle.session.processor import FrameIO

WORKFLOW = {"1": {"class_type": "TrickleInput", "inputs": {}}}


class Queue:
    def __init__(self) -> None:
        self.queue: list[str] = []  # waiting prompt ids (ComfyUI: a heap of items)
        self.flags: dict[str, Any] = {}
        self.cond = threading.Condition()


class Host:
    """ComfyHost's surface as the runner uses it."""

    def __init__(self) -> None:
        self.queue = Queue()
        self.results: dict[str, PromptResult] = {}
        self.running: str | None = None
        self.listeners: list[Callable[[], object]] = []
        self.put_ids: list[str] = []

    def put(self, prompt_id: str, workflow: Any, outputs: list[str]) -> None:
        with self.queue.cond:
            self.queue.queue.append(prompt_id)
            self.put_ids.append(prompt_id)
            self.queue.cond.notify_all()
        self.changed()

    def changed(self) -> None:
        for listener in list(self.listeners):
            listener()

    def take_result(self, prompt_id: str) -> PromptResult | None:
        return self.results.pop(prompt_id, None)

    def is_pending(self, prompt_id: str) -> bool:
        return prompt_id == self.running or prompt_id in self.queue.queue

    def cancel_queued(self, prompt_ids: set[str]) -> int:
        with self.queue.cond:
            before = len(self.queue.queue)
            self.queue.queue = [p for p in self.queue.queue if p not in prompt_ids]
            return before - len(self.queue.queue)

    def forget(self, prompt_id: str) -> None:
        self.results.pop(prompt_id, None)

    def add_listener(self, listener: Callable[[], object], *, stream: bool = True) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: Callable[[], object], *, stream: bool = True) -> None:
        self.listeners.remove(listener)


class Execution:
    """PrivateExecution's surface: ``run`` does what TrickleInput → TrickleOutput do."""

    def __init__(self) -> None:
        self.interrupt = False
        self.fail_next = ""
        self.slow = 0.0
        self.saved = 0
        self.restored = 0
        self.ran: list[str] = []
        self.switch = 0.0
        self.burn = 0.0  # CPU seconds a warm-up spends (loading models, say)

    def interrupted(self) -> bool:
        return self.interrupt

    def save(self) -> str:
        self.saved += 1
        return "globals"

    def restore(self, saved: str) -> None:
        assert saved == "globals"
        self.restored += 1

    def new_executor(self) -> object:
        return object()

    async def run(self, executor: Any, prompt_id: str, workflow: Any, outputs: Any) -> PromptResult:
        self.ran.append(prompt_id)
        self.switch = sys.getswitchinterval()
        ticket = REGISTRY.get(prompt_id)  # what TrickleInput finds
        assert ticket is not None and ticket.frame is not None
        if self.slow:
            time.sleep(self.slow)
        if prompt_id.startswith("trickle-warmup-"):
            began = time.thread_time()
            while time.thread_time() - began < self.burn:
                pass
        else:
            ticket.convert_s = 0.002  # as TrickleInput/TrickleOutput record their conversions
        if self.fail_next:
            error, self.fail_next = self.fail_next, ""
            return PromptResult(False, error)
        deliver(ticket, 255 - ticket.frame.image)
        return PromptResult(True)


class Worker:
    """ComfyUI's prompt worker: one queued item at a time, each on a fresh loop."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.ended: list[str | None] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + 30  # bounded: the test stops it long before
        while not self.stop.is_set() and time.monotonic() < deadline:
            with self.host.queue.cond:
                if not self.host.queue.queue:
                    self.host.queue.cond.wait(0.02)
                    continue
                pid = self.host.queue.queue.pop(0)
                self.host.running = pid
            self.host.changed()
            if pid.startswith("editor"):
                self.ended.append(pid)
            else:
                self.ended.append(asyncio.run(serve_lease(pid)))
            self.host.results[pid] = PromptResult(True)
            self.host.running = None
            self.host.changed()


def frame(n: int) -> VideoFrame:
    return VideoFrame(np.full((8, 8, 3), n, np.uint8), pts=n * 3000, index=n)


class Stream:
    def __init__(self) -> None:
        self.io = FrameIO("s", input=FrameQueue(64), output=FrameQueue(1000))
        self.binding = StreamBinding(self.io)
        self.results: list[tuple[Ticket, PromptResult]] = []

    def on_result(self, ticket: Ticket, result: PromptResult) -> None:
        self.results.append((ticket, result))

    def outputs(self) -> list[VideoFrame]:
        out = []
        while (item := self.io.output.get(0)) is not None:
            out.append(item)
        return out


@pytest.fixture
def world() -> Iterator[tuple[Host, Execution, Worker, LeaseRunner]]:
    host, execution = Host(), Execution()
    runner = LeaseRunner(host, execution)  # type: ignore[arg-type]
    LeaseRunner._instance = runner
    worker = Worker(host)
    yield host, execution, worker, runner
    worker.stop.set()
    worker.thread.join(5)
    LeaseRunner._instance = None


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def added(runner: LeaseRunner, *, enabled: bool = True) -> tuple[Stream, LeaseJob]:
    """A stream whose job the runner serves (live frames taken when ``enabled``)."""
    stream = Stream()
    job = LeaseJob(stream.binding, runner.execution.new_executor(), lambda: (WORKFLOW, ["1"], 3),
                   stream.on_result)  # fmt: skip
    runner.add(job)
    job.enabled = enabled
    return stream, job


async def test_frames_run_in_order_inside_one_lease_with_their_timing(world: Any) -> None:
    host, execution, worker, runner = world
    switch_before = sys.getswitchinterval()
    stream, job = added(runner)
    for n in range(20):
        stream.io.input.put(frame(n))
    await until(lambda: len(stream.results) == 20)
    out = stream.outputs()
    assert [f.pts for f in out] == [n * 3000 for n in range(20)]
    assert all(int(f.image[0, 0, 0]) == 255 - f.index for f in out)  # the graph's picture
    assert all(r.ok and t.version == 3 for t, r in stream.results)
    assert len(host.put_ids) == 1 and runner.counters["frames"] == 20  # one lease, 20 frames
    assert execution.saved == 1 and execution.restored == 0  # still serving
    assert stream.binding.latest_input is not None
    assert execution.switch == 0.001 < switch_before  # GIL hand-over every 1 ms while serving
    await runner.remove(job)
    await until(lambda: worker.ended == ["no stream"])
    assert execution.restored == 1 and sys.getswitchinterval() == switch_before
    await until(lambda: runner._keeper is not None and runner._keeper.done())
    assert not [p for p in REGISTRY._tickets if p.startswith(host.put_ids[0][:8])]


async def test_worker_cpu_per_frame_counts_whole_leases_but_not_warm_ups(world: Any) -> None:
    host, execution, worker, runner = world
    stream, job = added(runner, enabled=False)
    execution.burn = 0.3  # the warm-up's CPU: 30 ms per frame if it were counted
    assert (await runner.warm_up(job, (16, 16))) is not None
    job.enabled = True
    for n in range(10):
        stream.io.input.put(frame(n))
    await until(lambda: len(stream.results) == 10)
    live = runner.stats()  # read from the worker's CPU clock while the lease still runs
    assert runner.serving is not None
    assert live["conversion_ms_per_frame"] == 2.0  # the nodes' conversions, per frame
    assert live["cpu_ms_per_frame"] is not None and live["worker_cpu_ms_per_frame"] is not None
    assert 0 < live["cpu_ms_per_frame"] <= live["worker_cpu_ms_per_frame"] < 20, live
    await runner.remove(job)
    await until(lambda: worker.ended == ["no stream"])
    done = runner.stats()["worker_cpu_ms_per_frame"]
    assert done is not None and live["worker_cpu_ms_per_frame"] <= done < 20  # kept at the end


async def test_an_editor_prompt_ends_the_lease_and_the_stream_goes_on_after_it(
    world: Any,
) -> None:
    host, execution, worker, runner = world
    stream, job = added(runner)
    stream.io.input.put(frame(0))
    await until(lambda: len(stream.results) == 1)
    host.put("editor-1", {}, [])  # the user clicks Run
    await until(lambda: "editor-1" in worker.ended)
    assert worker.ended[0] == "prompt waiting"
    stream.io.input.put(frame(1))
    await until(lambda: len(stream.results) == 2)
    assert len(host.put_ids) == 3  # lease, editor prompt, the next lease
    await runner.remove(job)


async def test_warm_up_runs_first_and_live_frames_wait_until_enabled(world: Any) -> None:
    host, execution, worker, runner = world
    stream, job = added(runner, enabled=False)
    stream.io.input.put(frame(5))  # arrives while loading: not taken yet
    result = await runner.warm_up(job, (16, 16))
    assert result is not None and result.ok
    assert execution.ran[0].startswith("trickle-warmup-") and stream.results == []
    assert len(stream.io.input) == 1
    job.enabled = True
    await until(lambda: len(stream.results) == 1)
    assert stream.outputs()[0].index == 5
    await runner.remove(job)


async def test_a_failing_frame_is_reported_and_an_interrupt_ends_the_lease(world: Any) -> None:
    host, execution, worker, runner = world
    stream, job = added(runner)
    execution.fail_next = "ImageBlur (node 2): bad radius"
    stream.io.input.put(frame(0))
    await until(lambda: len(stream.results) == 1)
    assert stream.results[0][1].error == "ImageBlur (node 2): bad radius"
    execution.fail_next = "interrupted"  # the editor's Interrupt hit a frame
    stream.io.input.put(frame(1))
    await until(lambda: worker.ended[:1] == ["interrupted"])
    stream.io.input.put(frame(2))
    await until(lambda: len(stream.results) == 3)  # the next lease goes on
    assert stream.results[2][1].ok and len(host.put_ids) == 2
    execution.interrupt = True  # the flag itself, between frames, also ends the lease
    await until(lambda: worker.ended[1:2] == ["interrupted"])
    execution.interrupt = False
    await runner.remove(job)


async def test_remove_waits_for_the_frame_in_progress(world: Any) -> None:
    host, execution, worker, runner = world
    stream, job = added(runner)
    execution.slow = 0.3
    stream.io.input.put(frame(0))
    await until(lambda: job.busy)
    began = time.monotonic()
    await runner.remove(job)
    assert not job.busy and len(stream.results) == 1
    assert time.monotonic() - began > 0.1
    stream.io.input.put(frame(1))
    await asyncio.sleep(0.2)
    assert len(stream.results) == 1  # a removed job gets no more frames


async def test_a_lease_removed_from_the_queue_is_replaced(world: Any) -> None:
    host, execution, worker, runner = world
    worker.stop.set()  # nobody runs the lease: it stays queued
    worker.thread.join(5)
    stream, job = added(runner, enabled=False)
    await until(lambda: len(host.put_ids) == 1)
    host.cancel_queued({host.put_ids[0]})  # the user cleared the queue
    host.changed()
    await until(lambda: len(host.put_ids) == 2)
    assert host.queue.queue == [host.put_ids[1]]
    await runner.remove(job)
    await until(lambda: runner._keeper is not None and runner._keeper.done())
    assert host.queue.queue == []  # the queued lease is taken back when no stream is left


async def test_an_input_that_ends_marks_the_stream_ended(world: Any) -> None:
    host, execution, worker, runner = world
    stream, job = added(runner)
    stream.io.input.put(frame(0))
    stream.io.input.close()
    await until(lambda: stream.binding.ended.is_set())
    assert len(stream.results) == 1
    await runner.remove(job)


async def test_a_prompt_queued_by_hand_with_the_host_node_does_nothing(world: Any) -> None:
    host, execution, worker, runner = world
    assert await serve_lease("someone-elses-prompt") is None
    assert await serve_lease(None) is None
    assert execution.saved == 0
