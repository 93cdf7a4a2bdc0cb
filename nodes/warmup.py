"""Run a workflow once on a test frame before the stream's frames reach it.

The first run of a graph loads models, compiles kernels and allocates; while it happens the
processor is LOADING and the session publishes the input frames, so the gateway sees output at once
and no live frame waits behind the warm-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from ..trickle.media.frame_queue import FrameQueue
from ..trickle.media.frames import VideoFrame
from ..trickle.session.processor import FrameIO
from ..trickle.timeouts import with_timeout
from .bindings import REGISTRY, StreamBinding, Ticket
from .comfy_host import PROMPT_PREFIX, ComfyHost, PromptResult
from .graph import Workflow
from .pattern import test_pattern


def warm_up_size(params: dict[str, Any] | None) -> tuple[int, int]:
    """(width, height) of the warm-up frame: the start request's, else 512×512."""
    params = params or {}
    sizes = [params.get("width"), params.get("height")]
    ok = all(isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= 4096 for v in sizes)
    return (int(sizes[0]), int(sizes[1])) if ok else (512, 512)  # type: ignore[arg-type]


def warm_up_ticket(size: tuple[int, int]) -> Ticket:
    """A ticket of its own for the warm-up run: a test frame, an output nobody reads."""
    io = FrameIO("warm-up", input=FrameQueue(1), output=FrameQueue(1))
    io.input.put(VideoFrame(test_pattern(size[0], size[1], 0), 0))
    io.input.close()
    binding = StreamBinding(io, frame_wait=0.1)
    return Ticket(f"{PROMPT_PREFIX}warmup-{uuid.uuid4().hex}", binding)


async def warm_up(
    host: ComfyHost,
    workflow: Workflow,
    outputs: list[str],
    wake: asyncio.Event,
    size: tuple[int, int] = (512, 512),
    timeout: float = 300.0,
) -> PromptResult | None:
    """Queue one prompt fed with a test frame; its result, or None after ``timeout`` seconds."""
    ticket = warm_up_ticket(size)
    REGISTRY.add(ticket)
    host.put(ticket.prompt_id, workflow, outputs)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            result = host.take_result(ticket.prompt_id)
            if result is not None:
                return result
            with contextlib.suppress(asyncio.TimeoutError):
                await with_timeout(wake.wait(), 0.1)
            wake.clear()
        host.forget(ticket.prompt_id)
        return None
    finally:
        REGISTRY.pop(ticket.prompt_id)
