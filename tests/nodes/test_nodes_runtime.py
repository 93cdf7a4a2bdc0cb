"""Tensor conversion, the frame hand-off between stream and nodes, and the ComfyUI version adapter."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
import torch
from trickle_live.nodes.bindings import REGISTRY, StreamBinding, Ticket, deliver, take_frame
from trickle_live.nodes.comfy_host import (
    build_item,
    copy_prompt,
    detect_item_length,
    result_from_history,
    validation_error,
)
from trickle_live.nodes.convert import frame_to_image, image_to_frame
from trickle_live.nodes.pattern import test_pattern as make_pattern
from trickle_live.trickle.media.frame_queue import FrameQueue
from trickle_live.trickle.media.frames import VideoFrame
from trickle_live.trickle.session.processor import FrameIO


def test_frame_to_image_shape_range_and_round_trip() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    image = frame_to_image(rgb)
    assert image.shape == (1, 48, 64, 3) and image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert np.array_equal(image_to_frame(image), rgb)


def test_image_to_frame_batch_alpha_grey_and_clamp() -> None:
    batch = torch.zeros(3, 8, 8, 4)
    batch[2] = 2.0  # the last picture of a batch is sent; out of range is clamped
    out = image_to_frame(batch)
    assert out.shape == (8, 8, 3) and out.flags.c_contiguous and int(out.min()) == 255
    grey = image_to_frame(torch.full((1, 8, 8, 1), 0.5))
    assert grey.shape == (8, 8, 3) and int(grey[0, 0, 0]) == 128
    with pytest.raises(ValueError):
        image_to_frame(torch.zeros(1, 8, 8, 2))
    with pytest.raises(ValueError):
        frame_to_image(np.zeros((8, 8), dtype=np.uint8))


def test_pattern_moves() -> None:
    a, b = make_pattern(128, 96, 0), make_pattern(128, 96, 5)
    assert a.shape == (96, 128, 3) and a.dtype == np.uint8 and not np.array_equal(a, b)


def _ticket(wait: float = 0.5) -> tuple[Ticket, FrameIO]:
    io = FrameIO("s", input=FrameQueue(2), output=FrameQueue(4))
    return Ticket("trickle-x", StreamBinding(io, frame_wait=wait)), io


def _no_interrupt() -> None:
    return None


def test_take_frame_waits_then_gets_and_deliver_keeps_timing() -> None:
    ticket, io = _ticket()
    frame = VideoFrame(make_pattern(16, 16, 0), pts=3000, index=1)
    threading.Timer(0.05, io.input.put, (frame,)).start()
    assert take_frame(ticket, _no_interrupt) is frame
    assert take_frame(ticket, _no_interrupt) is frame  # a second TrickleInput: same frame
    processed = np.zeros((16, 16, 3), dtype=np.uint8)
    assert deliver(ticket, processed) and not deliver(ticket, processed)  # once per frame
    out = io.output.get(timeout=0)
    assert out is not None and out.pts == 3000 and out.index == 1 and out.image is processed


def test_take_frame_gives_up_on_timeout_stop_end_and_interrupt() -> None:
    ticket, io = _ticket(wait=0.1)
    began = time.monotonic()
    assert take_frame(ticket, _no_interrupt) is None
    assert 0.09 <= time.monotonic() - began < 0.5
    io.input.close()
    ticket2 = Ticket("trickle-y", StreamBinding(io))
    assert take_frame(ticket2, _no_interrupt) is None and ticket2.binding.ended.is_set()
    ticket3, _ = _ticket(wait=5)
    threading.Timer(0.05, ticket3.binding.stopped.set).start()
    began = time.monotonic()
    assert take_frame(ticket3, _no_interrupt) is None and time.monotonic() - began < 1

    class Interrupted(Exception):
        pass

    def interrupt() -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        take_frame(_ticket()[0], interrupt)


def test_registry_tells_stream_prompts_from_editor_prompts() -> None:
    ticket, io = _ticket()
    REGISTRY.add_binding(ticket.binding)
    REGISTRY.add(ticket)
    try:
        assert REGISTRY.is_stream_prompt("trickle-x") and not REGISTRY.is_stream_prompt("editor")
        ticket.binding.latest_input = VideoFrame(make_pattern(8, 8, 0), 0)
        assert REGISTRY.latest_frame() is ticket.binding.latest_input
    finally:
        REGISTRY.remove_binding(ticket.binding)
    assert REGISTRY.get("trickle-x") is None and REGISTRY.active() == 0


class _V080Execution:  # ComfyUI v0.8.0: /prompt splits these extra-data keys into a 6th field
    SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


class _V080Server:  # ... and its /queue answers strip the 6th field again
    @staticmethod
    def _remove_sensitive_from_queue(queue: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [item[:5] for item in queue]


class _OtherStrip:  # a function of that name that does something else is no evidence
    @staticmethod
    def _remove_sensitive_from_queue(queue: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return queue


@pytest.mark.parametrize(
    ("execution", "server", "length"),
    [
        (_V080Execution, None, 6),
        (object(), _V080Server, 6),
        (object(), None, 5),  # v0.3.64: neither
        (object(), _OtherStrip, 5),
    ],
)
def test_queue_item_shape_follows_the_comfyui_version(
    execution: Any, server: Any, length: int
) -> None:
    """Detected from what ComfyUI has and does, not from its source text."""
    assert detect_item_length(execution, server) == length
    item = build_item(length, 7, "trickle-1", {}, {"client_id": "c"}, ["2"])
    assert len(item) == length and item[:2] == (7, "trickle-1") and item[4] == ["2"]


def test_copy_prompt_isolates_what_the_executor_writes() -> None:
    prompt: dict[str, Any] = {"1": {"class_type": "A", "inputs": {"x": 1}}}
    copy = copy_prompt(prompt)
    copy["1"]["is_changed"] = [float("nan")]
    copy["1"]["inputs"]["x"] = 2
    assert prompt == {"1": {"class_type": "A", "inputs": {"x": 1}}}


def test_history_results_and_validation_errors() -> None:
    ok = result_from_history({"status": {"status_str": "success", "messages": []}})
    assert ok.ok and ok.error is None
    failed = result_from_history({"status": {"status_str": "error", "messages": [
        ["execution_start", {}],
        ["execution_error", {"node_id": "4", "node_type": "ImageBlur", "exception_message": "boom\n"}],
    ]}})  # fmt: skip
    assert (
        not failed.ok
        and failed.error == "ImageBlur (node 4): boom"
        and failed.detail["node_id"] == "4"
    )
    node_errors = {"4": {"class_type": "ImageBlur", "errors": [{"message": "Value bigger than max",
                   "details": "blur_radius", "extra_info": {"input_name": "blur_radius",
                   "received_value": 99}}]}}  # fmt: skip
    error = validation_error({"message": "Prompt outputs failed validation"}, node_errors)
    assert error.field == "4.blur_radius" and error.received == 99 and "max" in error.expected


async def test_status_broadcasts_coalesced_only_while_streaming() -> None:
    import asyncio

    from trickle_live.nodes.comfy_host import STATUS_INTERVAL, _Coalescer

    class Server:
        def __init__(self) -> None:
            self.loop = asyncio.get_running_loop()
            self.sent = 0

        def queue_updated(self) -> None:
            self.sent += 1

    server = Server()
    coalescer = _Coalescer(server)
    coalescer.patch.install()
    woken: list[int] = []
    for _ in range(5):
        server.queue_updated()
    assert server.sent == 5  # no stream: every broadcast goes out
    coalescer.listeners.append(lambda: woken.append(1))
    coalescer.streams = 1
    for _ in range(90):  # one second of a 30 fps stream: 3 per frame
        server.queue_updated()
    assert len(woken) == 90 and server.sent == 6
    await asyncio.sleep(STATUS_INTERVAL + 0.1)
    assert server.sent == 7  # the trailing broadcast carries the final queue state


def test_output_digests_kept_by_pts_only_when_asked() -> None:
    """TRICKLE_OUTPUT_DIGESTS=N (``RunnerConfig.output_digests``, passed by the driver): the sha1
    of each published picture by pts, the newest N."""
    import hashlib

    ticket, _ = _ticket()
    assert ticket.binding.digests is None  # off by default
    io = FrameIO("d", input=FrameQueue(8), output=FrameQueue(8))
    binding = StreamBinding(io, frame_wait=0.1, digests=2)
    pictures = [np.full((4, 4, 3), v, dtype=np.uint8) for v in (1, 2, 3)]
    for n, picture in enumerate(pictures):
        t = Ticket(f"p{n}", binding, frame=VideoFrame(picture, pts=3000 * n))
        assert deliver(t, picture)
    assert binding.digests == {
        3000 * n: hashlib.sha1(pictures[n].tobytes()).hexdigest() for n in (1, 2)
    }
