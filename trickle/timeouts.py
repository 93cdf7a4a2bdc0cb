"""Timeouts that never swallow a cancellation: ``timeout(seconds)`` instead of ``asyncio.wait_for``.

``asyncio.wait_for`` runs the awaited thing as a separate future. On Python 3.10 and 3.11, when
the caller is cancelled at the moment that future completes, ``wait_for`` returns the result and
the cancellation is lost (CPython gh-86296): a stream's input task asked to stop read on for ever.
``timeout`` instead bounds the awaits inside its block in the calling task itself; a cancellation
reaches the awaited call as usual. On 3.11+ it is ``asyncio.timeout`` (which tells its own expiry
from a cancellation by counting them). On 3.10 a small equivalent is used: there a cancellation
arriving in the same loop iteration as the expiry becomes the timeout; callers that must end (a
stream's tasks) are cancelled again until they have (``session.tasks.cancel_and_wait``).

Both raise ``asyncio.TimeoutError`` (the builtin ``TimeoutError`` from 3.11 on) when time runs out.

    async with timeout(5.0):
        data = await resp.content.readany()
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["timeout", "wait_done", "with_timeout"]


class _Timeout:
    """Python 3.10's stand-in for ``asyncio.timeout`` (one use, in the task that enters it)."""

    def __init__(self, delay: float | None) -> None:
        self._delay = delay
        self._task: asyncio.Task[Any] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._expired = False

    async def __aenter__(self) -> _Timeout:
        self._task = asyncio.current_task()
        if self._task is None:
            raise RuntimeError("timeout() must be used inside a task")
        if self._delay is not None:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(max(0.0, self._delay), self._expire)
        return self

    def _expire(self) -> None:
        if self._task is not None and not self._task.done():
            self._expired = True
            self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._expired and exc_type is asyncio.CancelledError:
            raise asyncio.TimeoutError from exc


def timeout(delay: float | None) -> Any:
    """An async context manager: ``asyncio.TimeoutError`` when its block outlasts ``delay`` s
    (None: no limit)."""
    if sys.version_info >= (3, 11):
        return asyncio.timeout(delay)
    return _Timeout(delay)


async def with_timeout(awaitable: Awaitable[T], delay: float | None) -> T:
    """``await awaitable`` bounded by ``delay`` seconds; ``asyncio.TimeoutError`` when it ran out.

    The awaitable runs in the calling task (a coroutine, not a separate task), so a cancellation
    of the caller is never lost, unlike ``asyncio.wait_for`` on Python < 3.12."""
    async with timeout(delay):
        return await awaitable


async def wait_done(task: asyncio.Future[Any], delay: float | None) -> bool:
    """Wait up to ``delay`` s for ``task`` to finish without cancelling it; True when it has."""
    if not task.done():
        await asyncio.wait({task}, timeout=delay)
    return task.done()
