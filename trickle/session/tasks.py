"""Task ownership helpers: every task has one owner that cancels and awaits it (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


RECANCEL_S = 0.5  # a task still running this long after its cancel is cancelled again


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel the tasks and wait until every one has ended; their errors are logged, never raised.

    A task that is still running ``RECANCEL_S`` after its cancel is cancelled again, and again,
    until it ends: a cancellation lost inside it (``asyncio.wait_for`` on Python < 3.12, gh-86296,
    or a library that catches it) cannot leave it running. A cancellation of the *calling* task
    propagates (it is never swallowed); the tasks then go on ending on their own.
    """
    pending = [t for t in tasks if t is not None]
    for task in pending:
        task.cancel()
    for task in pending:
        warned = False
        while not task.done():
            await asyncio.wait({task}, timeout=RECANCEL_S)
            if not task.done():
                if not warned:
                    log.warning(
                        "task %s ignored its cancellation; cancelling again", task.get_name()
                    )
                    warned = True
                task.cancel()
        if task.cancelled():
            continue
        exc = task.exception()
        if exc is not None and isinstance(exc, Exception):
            log.error("task %s failed", task.get_name(), exc_info=exc)
