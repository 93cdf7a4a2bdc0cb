"""Batching waiting frames (``nodes/batch.py``): the setting, which frames join a batch, and which
plans cannot batch — against stand-in jobs. In a real ComfyUI: tests/comfyui/test_comfyui_batch.py."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from trickle_live.nodes.batch import Batches, reads_per_frame_values
from trickle_live.nodes.bindings import StreamBinding
from trickle_live.nodes.comfy_host import PromptResult
from trickle_live.nodes.frame_plan import BatchRefused, FramePlan, Step
from trickle_live.nodes.lease_job import LeaseJob
from trickle_live.trickle.config import RunnerConfig
from trickle_live.trickle.errors import ValidationError
from trickle_live.trickle.media.frame_queue import FrameQueue
from trickle_live.trickle.media.frames import VideoFrame
from trickle_live.trickle.session.processor import FrameIO


@pytest.mark.parametrize(("raw", "limit"), [("", 1), ("off", 1), ("0", 1), ("1", 1), ("4", 4)])
def test_batch_limit(raw: str, limit: int) -> None:
    assert RunnerConfig.from_env(env={"TRICKLE_BATCH": raw}).batch == limit


@pytest.mark.parametrize("raw", ["on", "-1", "65", "2.5"])
def test_batch_limit_refuses_other_values(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        RunnerConfig.from_env(env={"TRICKLE_BATCH": raw})
    assert info.value.field == "TRICKLE_BATCH" and str(info.value.received) == raw


def plan(reads: tuple[str, int] | None = None) -> FramePlan:
    links = {"image": ("1", 0)}
    if reads is not None:
        links[reads[0]] = ("1", reads[1])
    steps = [
        Step("1", "TrickleInput", object, None, {}, {}),
        Step("2", "Blur", object, object(), {}, links),
        Step("3", "TrickleOutput", object, None, {}, {"images": ("2", 0)}),
    ]
    return FramePlan(None, None, steps, {})  # type: ignore[arg-type]


def test_plans_reading_per_frame_values_cannot_batch() -> None:
    assert reads_per_frame_values(plan()) is None
    assert reads_per_frame_values(plan(("width", 1))) is None  # one size per batch
    assert reads_per_frame_values(plan(("seed", 3))) == "node 2 (Blur) reads frame_index (seed)"
    assert reads_per_frame_values(plan(("sigma", 4))) == "node 2 (Blur) reads timestamp (sigma)"


def job(graph: dict[str, Any], with_plan: FramePlan | None = None) -> LeaseJob:
    io = FrameIO("s", input=FrameQueue(8), output=FrameQueue(8))
    made = LeaseJob(StreamBinding(io), None, lambda: (graph, ["3"], 1), lambda t, r: None)
    made.enabled = True
    made.set_plan(1, with_plan or plan(), "")
    return made


def frame(pts: int, size: int = 8) -> VideoFrame:
    return VideoFrame(np.zeros((size, size, 3), np.uint8), pts)


def test_gather_takes_waiting_frames_of_one_size_and_one_workflow() -> None:
    graph = {"2": {"class_type": "Blur", "inputs": {"radius": 2}}}
    lead, twin = job(graph), job({"2": {"class_type": "Blur", "inputs": {"radius": 2}}})
    other = job({"2": {"class_type": "Blur", "inputs": {"radius": 3}}})
    for j in (lead, twin, other):
        for pts in (1, 2):
            j.input.put(frame(pts))
    lead.input.put(frame(3, size=16))  # another size: waits for a batch of its own
    first = lead.input.get(0)
    assert first is not None
    batches = Batches(4)
    items = batches.gather(lead, lead.ticket(first), [lead, twin, other])
    assert [(j, t.frame.pts if t.frame else None) for j, t in items] == [
        (lead, 1), (lead, 2), (twin, 1), (twin, 2)
    ]  # fmt: skip
    assert twin.busy and not other.busy and len(other.input) == 2
    assert len(lead.input) == 1  # the lead took its own second frame, not the third (16 px)


def test_gather_leaves_plans_that_cannot_batch_alone() -> None:
    graph = {"2": {"class_type": "Blur", "inputs": {}}}
    reads_index = job(graph, plan(("seed", 3)))
    reads_index.input.put(frame(2))
    batches = Batches(4)
    items = batches.gather(reads_index, reads_index.ticket(frame(1)), [reads_index])
    assert len(items) == 1 and len(reads_index.input) == 1
    assert batches.state()["refused"] == ["node 2 (Blur) reads frame_index (seed)"]
    no_plan = job(graph)
    no_plan.set_plan(-1, None, "not built yet")
    no_plan.input.put(frame(2))
    assert len(batches.gather(no_plan, no_plan.ticket(frame(1)), [no_plan])) == 1
    one = job(graph)
    one.input.put(frame(2))
    assert len(Batches(1).gather(one, one.ticket(frame(1)), [one])) == 1  # TRICKLE_BATCH off


# -- running a batch: the fallbacks -----------------------------------------------------------


class StandInPlan:
    """A plan whose batch run answers as told (a result, or an exception to raise)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.steps = [Step("2", "Blur", object, object(), {}, {})]
        self.runs: list[int] = []

    async def run(self, ticket: Any, *batch: Any) -> PromptResult:
        self.runs.append(1 + len(batch))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer  # type: ignore[no-any-return]


class StandInFrames:
    """JobFrames as a batch sees it: single frames answer ``single``."""

    def __init__(self, single: PromptResult) -> None:
        self.single = single
        self.counters: dict[str, int] = {"plan_frames": 0}
        self.singles: list[str] = []

    async def run(self, job: Any, ticket: Any, workflow: Any, outputs: Any, warm: bool) -> Any:
        self.singles.append(ticket.prompt_id)
        return self.single

    def keep_constants(self, job: Any, plan: Any) -> None:
        pass


def batch_of_two(answer: Any) -> tuple[Batches, list[Any], StandInPlan]:
    graph = {"2": {"class_type": "Blur", "inputs": {}}}
    lead, twin = job(graph), job(graph)
    stand_in = StandInPlan(answer)
    batches = Batches(4)
    twin.input.put(frame(2))
    items = batches.gather(lead, lead.ticket(frame(1)), [lead, twin])
    lead.plan = stand_in  # type: ignore[assignment]
    assert len(items) == 2
    return batches, items, stand_in


OK, FAILED = PromptResult(True), PromptResult(False, "Blur (node 2): boom", {"node_id": "2"})


def test_a_good_batch_gives_each_frame_its_result() -> None:
    batches, items, plan_ = batch_of_two(OK)
    frames = StandInFrames(FAILED)
    assert asyncio.run(batches.run(frames, items)) == [OK, OK]  # type: ignore[arg-type]
    assert plan_.runs == [2] and frames.singles == []
    assert frames.counters == {"plan_frames": 2, "batches": 1, "batched_frames": 2,
                               "shared_batches": 1}  # fmt: skip


def test_an_output_of_another_size_runs_the_frames_one_at_a_time_from_then_on() -> None:
    batches, items, _ = batch_of_two(BatchRefused("the output has 1 pictures for 2 frames"))
    frames = StandInFrames(OK)
    assert asyncio.run(batches.run(frames, items)) == [OK, OK]  # type: ignore[arg-type]
    assert len(frames.singles) == 2
    assert batches.state()["refused"] == ["the output has 1 pictures for 2 frames"]
    lead = items[0][0]
    lead.input.put(frame(5))
    assert len(batches.gather(lead, lead.ticket(frame(4)), [lead])) == 1


def test_a_batch_that_fails_where_single_frames_do_not_is_not_batched_again() -> None:
    batches, items, _ = batch_of_two(FAILED)
    frames = StandInFrames(OK)
    assert asyncio.run(batches.run(frames, items)) == [OK, OK]  # type: ignore[arg-type]
    assert batches.state()["refused"] == [
        "a batch failed where single frames did not: Blur (node 2): boom"
    ]


def test_a_workflow_error_reaches_every_frame_of_the_batch() -> None:
    batches, items, plan_ = batch_of_two(FAILED)
    frames = StandInFrames(FAILED)  # single frames fail too: the workflow's error
    assert asyncio.run(batches.run(frames, items)) == [FAILED, FAILED]  # type: ignore[arg-type]
    assert len(frames.singles) == 2 and not batches.state()["refused"]
    # confirmed once: the next failing batch reports to each frame without running them again
    assert asyncio.run(batches.run(frames, items)) == [FAILED, FAILED]  # type: ignore[arg-type]
    assert len(frames.singles) == 2 and plan_.runs == [2, 2]
