"""Frame plans (``nodes/frame_plan.py``): the graph analysis, the version check, and a plan's run
against stand-ins with ComfyUI's shapes. The real thing runs in a real ComfyUI in
tests/comfyui/test_comfyui_stream.py (plan active, rebuilt on updates, refused for lazy nodes)."""

from __future__ import annotations

import asyncio
import contextlib
import types
from typing import Any

import pytest
from trickle_live.nodes.bindings import StreamBinding, Ticket
from trickle_live.nodes.frame_plan import (
    OWN_NODES,
    ComfyFunctions,
    FramePlan,
    PlanBroken,
    PlanMaker,
    PlanRefused,
    PlanStale,
    Step,
    Watch,
    live_order,
    picture_readers,
    unsupported,
)
from trickle_live.trickle.media.frame_queue import FrameQueue
from trickle_live.trickle.session.processor import FrameIO


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


# -- which nodes run per frame ------------------------------------------------------------------


def test_live_order_passthrough_and_constants() -> None:
    workflow = {
        "1": node("TrickleInput"),
        "2": node("TrickleParamInt", name="radius", value=3),
        "3": node("Loader", path="x"),
        "4": node("Blur", image=["1", 0], radius=["2", 0], model=["3", 0]),
        "5": node("Invert", image=["4", 0]),
        "6": node("TrickleOutput", images=["5", 0]),
        "9": node("Unused", image=["1", 0]),
    }
    needed, live = live_order(workflow, ["6"])
    assert needed == {"1", "2", "3", "4", "5", "6"}  # "9" feeds no output
    assert live == ["1", "4", "5", "6"]  # in dependency order; 2 and 3 are constants


def test_live_order_diamond_and_string_ids() -> None:
    workflow = {
        "in": node("TrickleInput"),
        "10": node("A", image=["in", 0]),
        "2": node("B", image=["in", 0]),
        "out": node("TrickleOutput", images=["m", 0]),
        "m": node("Merge", a=["10", 0], b=["2", 0]),
    }
    _, live = live_order(workflow, ["out"])
    assert live.index("in") < min(live.index("10"), live.index("2"))
    assert max(live.index("10"), live.index("2")) < live.index("m") < live.index("out")


def test_live_order_output_without_input_still_runs_every_frame() -> None:
    workflow = {"1": node("Pattern", size=8), "2": node("TrickleOutput", images=["1", 0])}
    needed, live = live_order(workflow, ["2"])
    assert needed == {"1", "2"} and live == ["2"]


@pytest.mark.parametrize(
    ("workflow", "message"),
    [
        ({"1": node("TrickleOutput", images=["7", 0])}, "node 7 is linked"),
        (
            {
                "1": node("A", x=["2", 0]),
                "2": node("B", x=["1", 0]),
                "3": node("TrickleOutput", images=["2", 0]),
            },
            "cycle",
        ),
    ],
)
def test_live_order_refuses_broken_graphs(workflow: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanRefused, match=message):
        live_order(workflow, ["3" if "3" in workflow else "1"])


def test_plans_off_by_the_setting() -> None:
    maker, reason = PlanMaker.for_comfyui(server=None, enabled=False)
    assert maker is None and reason == "TRICKLE_FRAME_PLAN is off"


# -- the version check ----------------------------------------------------------------------


def fitting_execution() -> types.SimpleNamespace:
    def get_input_data(inputs, class_def, unique_id, execution_list, dynprompt, extra_data):  # type: ignore[no-untyped-def]
        return {}, {}, {}

    async def map_over(
        prompt_id, unique_id, obj, input_data_all, func, allow_interrupt,
        execution_block_cb, pre_execute_cb, v3_data,
    ):  # type: ignore[no-untyped-def]  # fmt: skip
        return []

    async def resolve(results):  # type: ignore[no-untyped-def]
        return results

    def outputs(return_values, obj):  # type: ignore[no-untyped-def]
        return [], {}, False

    return types.SimpleNamespace(
        get_input_data=get_input_data,
        _async_map_node_over_list=map_over,
        resolve_map_node_over_list_results=resolve,
        get_output_from_returns=outputs,
        full_type_name=lambda t: t.__name__,
    )


def test_unsupported_accepts_v0_8_shapes_and_names_what_differs() -> None:
    execution = fitting_execution()
    assert unsupported(execution) is None
    del execution.get_output_from_returns
    assert unsupported(execution) == "execution.get_output_from_returns is missing"
    execution = fitting_execution()

    async def map_over(prompt_id, unique_id, obj, input_data_all, func):  # type: ignore[no-untyped-def]
        return []

    execution._async_map_node_over_list = map_over
    reason = unsupported(execution)
    assert reason is not None and reason.startswith("execution._async_map_node_over_list(")


def test_no_comfyui_means_no_plans() -> None:
    maker, reason = PlanMaker.for_comfyui(server=None)
    assert maker is None and reason is not None and "ComfyUI modules missing" in reason


# -- which TrickleInput pictures no node looks at (passed on unconverted) ---------------------


@pytest.mark.parametrize(
    ("middle", "expected"),
    [
        ({}, {"1": set()}),  # passthrough: only TrickleOutput's images read it
        ({"4": node("Blur", image=["1", 0])}, {"1": {"4"}}),
        ({"4": node("Scale", width=["1", 1], height=["1", 2])}, {"1": set()}),  # sizes only
        ({"4": node("PreviewImage", images=["1", 0])}, {"1": {"4"}}),  # an output node reads it
        ({"4": node("Unused", image=["1", 0])}, {"1": set()}),  # feeds no output: never runs
    ],
)
def test_picture_readers(middle: dict[str, Any], expected: dict[str, set[str]]) -> None:
    workflow = {"1": node("TrickleInput"), "2": node("TrickleOutput", images=["1", 0]), **middle}
    outputs = ["2", *(n for n, v in middle.items() if v["class_type"] != "Unused")]
    _, live = live_order(workflow, outputs)
    assert picture_readers(workflow, live) == expected


def test_picture_readers_of_two_inputs_and_an_output_fed_by_a_node() -> None:
    workflow = {
        "1": node("TrickleInput"),
        "2": node("TrickleInput"),
        "3": node("Blur", image=["2", 0]),
        "4": node("TrickleOutput", images=["1", 0]),
        "5": node("SaveImage", images=["3", 0]),
    }
    _, live = live_order(workflow, ["4", "5"])
    assert picture_readers(workflow, live) == {"1": set(), "2": {"3"}}
    # an output whose picture does not come from the input at all: nobody reads the frame
    workflow = {"1": node("TrickleInput"), "6": node("Pattern", frame=["1", 3]),
                "7": node("TrickleOutput", images=["6", 0])}  # fmt: skip
    _, live = live_order(workflow, ["7"])
    assert picture_readers(workflow, live) == {"1": set()}


class Blur:
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802 - ComfyUI's name
        return {"required": {"image": ("IMAGE",)}}

    def run(self, image: Any) -> tuple[Any]:
        return (("blurred", image),)


@pytest.mark.parametrize(("with_blur", "read"), [(False, False), (True, True)])
def test_a_built_plan_converts_the_picture_only_for_a_node_that_reads_it(
    monkeypatch: pytest.MonkeyPatch, with_blur: bool, read: bool
) -> None:
    seen: list[bool] = []
    delivered: list[Any] = []

    def own_input(t: Any, inputs: dict[str, list[Any]], picture_read: bool) -> list[list[Any]]:
        seen.append(picture_read)
        return [["IMAGE" if picture_read else "frame's own picture"], [8], [8], [0], [0.0]]

    def own_output(t: Any, inputs: dict[str, list[Any]], picture_read: bool) -> list[list[Any]]:
        delivered.extend(inputs["images"])
        return []

    monkeypatch.setitem(OWN_NODES, "TrickleInput", own_input)
    monkeypatch.setitem(OWN_NODES, "TrickleOutput", own_output)
    comfy = stand_in_comfy([False])
    comfy.node_classes.update({"TrickleInput": object, "TrickleOutput": object, "Blur": Blur})
    comfy.get_input_data = lambda inputs, *a: ({}, {"image": True}, None)  # the link is missing
    workflow: dict[str, Any] = {"1": node("TrickleInput"), "3": node("TrickleOutput")}
    workflow["3"]["inputs"]["images"] = ["2", 0] if with_blur else ["1", 0]
    if with_blur:
        workflow["2"] = node("Blur", image=["1", 0])
    caches = types.SimpleNamespace(outputs={}, objects={"2": Blur()})
    plan = PlanMaker(comfy, server=None).build(
        types.SimpleNamespace(caches=caches), workflow, ["3"]
    )
    assert asyncio.run(plan.run(ticket())).ok
    assert seen == [read]
    assert plan.describe()["unconverted_inputs"] == ([] if read else ["1"])
    expected = ("blurred", "IMAGE") if with_blur else "frame's own picture"
    assert delivered == [expected]


# -- a plan's run, against stand-ins ----------------------------------------------------------


class Blocker:
    def __init__(self, message: Any) -> None:
        self.message = message


class Interrupted(Exception):
    pass


class Boom(ValueError):
    pass


def stand_in_comfy(interrupted: list[bool]) -> ComfyFunctions:
    """ComfyUI's per-node call as far as a plan relies on it: blockers pass on, the function
    runs with one value per input, a dict with ``expand`` is a subgraph."""

    async def map_over(prompt_id, unique_id, obj, inputs, func, allow_interrupt=False,
                       execution_block_cb=None, pre_execute_cb=None, v3_data=None):  # type: ignore[no-untyped-def]  # fmt: skip
        if allow_interrupt and interrupted[0]:
            raise Interrupted()
        for values in inputs.values():
            if isinstance(values[0], Blocker):
                return [execution_block_cb(values[0])]
        if pre_execute_cb is not None:
            pre_execute_cb(0)
        return [getattr(obj, func)(**{k: v[0] for k, v in inputs.items()})]

    def outputs_from(results, obj):  # type: ignore[no-untyped-def]
        if isinstance(results[0], dict):
            return results, {}, True
        if isinstance(results[0], Blocker):
            return [[results[0]]], {}, False
        return [[r] for r in results[0]], {}, False

    async def resolve(results):  # type: ignore[no-untyped-def]
        return results

    return ComfyFunctions(
        get_input_data=lambda *a: ({}, {}, {}),
        map_over_list=map_over,
        resolve=resolve,
        outputs_from=outputs_from,
        blocker=Blocker,
        interrupted=Interrupted,
        before_node=lambda: None,
        dynamic_prompt=lambda w: w,
        set_prefix=lambda *a: None,
        is_v3=lambda c: False,
        override=lambda c, n: None,
        type_name=lambda t: f"tests.{t.__name__}",
        node_classes={},
        inference_mode=contextlib.nullcontext,
    )


class Add:
    FUNCTION = "run"

    def run(self, image: int, amount: int) -> tuple[int]:
        if amount < 0:
            raise Boom(f"amount {amount} is negative")
        return (image + amount,)


class Expand:
    FUNCTION = "run"

    def run(self, image: int) -> dict[str, Any]:
        return {"expand": {}, "result": (image,)}


def ticket() -> Ticket:
    io = FrameIO("s", input=FrameQueue(4), output=FrameQueue(4))
    return Ticket("trickle-test-1", StreamBinding(io))


def plan_of(amount: Any, middle: Any = None, interrupted: list[bool] | None = None) -> FramePlan:
    delivered: list[Any] = []

    def own_input(t: Ticket, inputs: dict[str, list[Any]], picture_read: bool) -> list[list[Any]]:
        return [[10]]

    def own_output(t: Ticket, inputs: dict[str, list[Any]], picture_read: bool) -> list[list[Any]]:
        delivered.extend(inputs["images"])
        return []

    steps = [
        Step("1", "TrickleInput", object, None, {}, {}, own=own_input),
        Step("2", "Add", Add, middle or Add(), {}, {"image": ("1", 0), "amount": ("9", 0)}),
        Step("3", "TrickleOutput", object, None, {}, {"images": ("2", 0)}, own=own_output),
    ]
    plan = FramePlan(stand_in_comfy(interrupted or [False]), None, steps, {"9": [[amount]]})
    plan.delivered = delivered  # type: ignore[attr-defined]
    return plan


def test_plan_runs_live_nodes_with_constants() -> None:
    plan = plan_of(5)
    result = asyncio.run(plan.run(ticket()))
    assert result.ok and plan.delivered == [15]  # type: ignore[attr-defined]
    assert plan.describe() == {
        "live_nodes": ["1", "2", "3"],
        "constant_nodes": ["9"],
        "watched_nodes": [],
        "unconverted_inputs": [],  # Add reads the input's picture
    }


def test_plan_failure_has_the_executors_error_shape() -> None:
    result = asyncio.run(plan_of(-1).run(ticket()))
    assert not result.ok
    assert result.error == "Add (node 2): amount -1 is negative"
    assert result.detail == {"node_id": "2", "node_type": "Add", "exception_type": "tests.Boom"}


def test_plan_interrupt_and_blockers() -> None:
    result = asyncio.run(plan_of(1, interrupted=[True]).run(ticket()))
    assert (result.ok, result.error, result.detail) == (False, "interrupted", {"node_id": "2"})
    plan = plan_of(Blocker("why"))  # a blocker with a message goes on silently, as in ComfyUI
    result = asyncio.run(plan.run(ticket()))
    assert result.ok
    (blocked,) = plan.delivered  # type: ignore[attr-defined]
    assert isinstance(blocked, Blocker) and blocked.message is None


def test_plan_stops_at_a_subgraph_expansion() -> None:
    plan = plan_of(1, middle=Expand())
    plan.steps[1].links = {"image": ("1", 0)}
    with pytest.raises(PlanBroken, match="node 2 \\(Add\\) expands"):
        asyncio.run(plan.run(ticket()))


# -- watched constants (IS_CHANGED / fingerprint_inputs) --------------------------------------


class Reference:
    """A constant node that ComfyUI asks on every run (like LoadImage hashing its file)."""

    digest = ["a"]

    @classmethod
    def IS_CHANGED(cls, path: str) -> str:  # noqa: N802 (ComfyUI's name)
        return f"{path}:{cls.digest[0]}"


def test_a_watched_constant_keeps_the_plan_until_it_changes() -> None:
    plan = plan_of(5)
    plan.watches = [Watch("9", "Reference", Reference, "IS_CHANGED", {"path": ["x.png"]}, None,
                          ["x.png:a"])]  # fmt: skip
    assert asyncio.run(plan.run(ticket())).ok and plan.delivered == [15]  # type: ignore[attr-defined]
    assert plan.describe()["watched_nodes"] == ["9"]
    Reference.digest[0] = "b"  # the file changed: the executor must run this frame
    try:
        with pytest.raises(PlanStale, match="node 9 \\(Reference\\) changed"):
            asyncio.run(plan.run(ticket()))
        assert plan.delivered == [15]  # type: ignore[attr-defined]  # no node ran
    finally:
        Reference.digest[0] = "a"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (None, "its IS_CHANGED answer is unknown"),
        (float("nan"), "changes on every run"),
        (["ok", float("nan")], "changes on every run"),
    ],
)
def test_a_constant_that_changes_every_run_is_refused(answer: Any, message: str) -> None:
    maker = PlanMaker(stand_in_comfy([False]), server=None)
    workflow = {"9": node("Reference", path="x.png")}
    ran = {"9": {**workflow["9"], "is_changed": answer}} if answer is not None else {}
    with pytest.raises(PlanRefused, match=message):
        maker._watch("9", "Reference", Reference, "IS_CHANGED", workflow, ran)
    watch = maker._watch(
        "9", "Reference", Reference, "IS_CHANGED", workflow, {"9": {"is_changed": ["x"]}}
    )
    assert watch.value == ["x"]


# -- what ComfyUI's executor does per prompt for models, done per plan frame ------------------


def test_plan_frame_does_the_executors_model_steps() -> None:
    """cleanup_models_gc before the nodes (every prompt in ComfyUI), and under
    --disable-smart-memory unload_all_models after the frame, a failed one included."""
    calls: list[str] = []
    for smart_off in (False, True):
        calls.clear()
        plan = plan_of(5)
        plan.comfy.cleanup_models_gc = lambda: calls.append("gc")
        plan.comfy.unload_all = lambda: calls.append("unload")
        plan.comfy.smart_memory_off = lambda off=smart_off: off  # type: ignore[misc]
        assert asyncio.run(plan.run(ticket())).ok
        failing = plan_of(-1)
        failing.comfy = plan.comfy
        assert not asyncio.run(failing.run(ticket())).ok
        assert calls == (["gc", "unload", "gc", "unload"] if smart_off else ["gc", "gc"])


class Cache:
    """An outputs cache as a plan sees it: ``get`` per node, ``poll`` may evict (RAM pressure)."""

    def __init__(self, entries: dict[str, Any], evict: list[str]) -> None:
        self.entries, self.evict = entries, evict
        self.polls: list[float] = []

    def get(self, node_id: str) -> Any:
        return self.entries.get(node_id)

    def poll(self, ram_headroom: float) -> None:
        self.polls.append(ram_headroom)
        for node_id in self.evict:
            self.entries.pop(node_id, None)


@pytest.mark.parametrize("evict", [[], ["9"]])
def test_a_constant_evicted_by_ram_pressure_drops_the_plan(evict: list[str]) -> None:
    """After a plan frame the cache is polled (ComfyUI polls after every node); a constant it
    evicted must not stay alive in the plan: the plan is dropped, the executor runs next."""
    from trickle_live.nodes.lease_job import JobFrames, LeaseJob

    cache = Cache({"9": types.SimpleNamespace(outputs=[[5]])}, evict)
    executor = types.SimpleNamespace(caches=types.SimpleNamespace(outputs=cache))
    execution = types.SimpleNamespace(cache_args={"lru": 0, "ram": 4.0})
    frames = JobFrames(execution, None, "test", {"plan_frames": 0})  # type: ignore[arg-type]
    t = ticket()
    job = LeaseJob(t.binding, executor, lambda: ({}, ["3"], 0), lambda *a: None)
    plan = plan_of(5)
    job.set_plan(0, plan, "")
    result = asyncio.run(frames.run(job, t, {}, ["3"], warm_up=False))
    assert result.ok and cache.polls == [4.0]
    assert job.node_runs == {"TrickleInput": 1, "Add": 1, "TrickleOutput": 1}
    if evict:
        assert job.plan is None and job.plan_state() == {
            "active": False,
            "reason": "rebuilding: node 9 left the cache",
        }
    else:
        assert job.plan is plan
