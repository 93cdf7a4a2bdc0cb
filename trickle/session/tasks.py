"""Task ownership helpers: every task has one owner that cancels and awaits it (DESIGN §3)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel the tasks and await them all; their errors are logged, never raised.

    A cancellation of the *calling* task is re-raised (it must not be swallowed).
    """
    pending = [t for t in tasks if t is not None]
    for task in pending:
        if not task.done():
            task.cancel()
    for task in pending:
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            cancelling = getattr(current, "cancelling", None)
            if current is not None and cancelling is not None and cancelling():
                raise
        except Exception:  # task boundary: a failed task is logged by its owner here
            log.exception("task %s failed", task.get_name())
