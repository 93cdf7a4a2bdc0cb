"""The queue executor (``TRICKLE_EXECUTOR=queue``): one prompt per frame in ComfyUI's own queue.

Keeps ``ahead`` stream prompts queued (built in-process with the running ComfyUI's tuple shape and
a private ``client_id``), so the worker never waits for a submission; takes each finished prompt's
result out of ComfyUI's history; replaces stream prompts someone removed from the queue. Runs on
the server loop; the driver owns it and gets every result through ``settle``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..trickle.timeouts import with_timeout
from .bindings import REGISTRY, StreamBinding, Ticket
from .comfy_host import PROMPT_PREFIX, ComfyHost, PromptResult
from .graph import Workflow

log = logging.getLogger(__name__)

LOST_CHECK_INTERVAL = 1.0  # how often to look for stream prompts removed by someone else

Current = Callable[[], tuple[Workflow, list[str], int]]
Settle = Callable[[Ticket, PromptResult], None]


class QueueFrames:
    def __init__(
        self,
        host: ComfyHost,
        binding: StreamBinding,
        current: Current,
        settle: Settle,
        counters: dict[str, Any],
        *,
        ahead: int = 2,
        name: str = "?",
    ) -> None:
        self.host = host
        self.binding = binding
        self.current = current
        self.settle = settle
        self.counters = counters
        self.ahead = max(1, ahead)
        self.name = name
        self.inflight: dict[str, Ticket] = {}

    async def run(self, wake: asyncio.Event) -> None:
        """Until the stream stops or its input ends; ``wake`` is set on every queue change."""
        binding = self.binding
        next_check = time.monotonic() + LOST_CHECK_INTERVAL
        while not binding.stopped.is_set() and not binding.ended.is_set():
            while len(self.inflight) < self.ahead:
                self._queue_one()
            with contextlib.suppress(asyncio.TimeoutError):
                await with_timeout(wake.wait(), LOST_CHECK_INTERVAL / 2)
            wake.clear()
            self._collect()
            if time.monotonic() >= next_check:
                self._requeue_lost()
                next_check = time.monotonic() + LOST_CHECK_INTERVAL

    def _queue_one(self) -> None:
        workflow, outputs, version = self.current()
        ticket = Ticket(f"{PROMPT_PREFIX}{uuid.uuid4().hex}", self.binding, version)
        REGISTRY.add(ticket)
        self.inflight[ticket.prompt_id] = ticket
        self.host.put(ticket.prompt_id, workflow, outputs)
        self.counters["prompts"] += 1

    def _collect(self) -> None:
        for pid in list(self.inflight):
            result = self.host.take_result(pid)
            if result is not None:
                self.settle(self.inflight.pop(pid), result)
                REGISTRY.pop(pid)

    def _requeue_lost(self) -> None:
        """Stream prompts that vanished (the editor cleared the queue) are replaced."""
        for pid in list(self.inflight):
            if not self.host.is_pending(pid) and self.host.take_result(pid) is None:
                log.info("stream %s: prompt %s left the queue unfinished", self.name, pid)
                ticket = self.inflight.pop(pid)
                REGISTRY.pop(pid)
                self.settle(ticket, PromptResult(False, "removed from the queue"))

    async def drain(self, timeout: float = 5.0) -> None:
        """Take the stream's prompts back: queued ones now, the running one when it finishes."""
        host = self.host
        host.cancel_queued(set(self.inflight))
        deadline = time.monotonic() + timeout
        while self.inflight and time.monotonic() < deadline:
            for pid in list(self.inflight):
                if host.take_result(pid) is not None or not host.is_pending(pid):
                    host.take_result(pid)  # it may have finished between the two looks
                    self.inflight.pop(pid)
                    REGISTRY.pop(pid)
            if self.inflight:
                await asyncio.sleep(0.02)
        for pid in self.inflight:  # still running (a slow node): drop its history when done
            host.forget(pid)
        self.inflight.clear()
