"""Issue #15: ``trickle.timeouts`` never loses a cancellation (``asyncio.wait_for`` did on Python
3.10/3.11 when the cancel met the completion of the awaited read, CPython gh-86296: a stopped
stream's input task read on) and still times out."""

from __future__ import annotations

import asyncio

import pytest
from trickle_live.trickle.timeouts import wait_done, with_timeout


async def test_a_cancel_that_meets_the_completion_of_the_read_is_not_lost() -> None:
    loop = asyncio.get_running_loop()
    for _ in range(20):
        read: asyncio.Future[bytes] = loop.create_future()
        reader = asyncio.create_task(with_timeout(read, 5.0))
        await asyncio.sleep(0)  # the reader now waits on the read
        read.set_result(b"data")  # the read completes...
        reader.cancel()  # ...in the same loop iteration as the stop's cancel
        with pytest.raises(asyncio.CancelledError):
            await reader


async def test_a_wait_that_runs_out_is_a_timeout_and_a_quick_one_its_value() -> None:
    with pytest.raises(asyncio.TimeoutError):
        await with_timeout(asyncio.sleep(1.0), 0.02)
    assert await with_timeout(asyncio.sleep(0.01, result=7), 1.0) == 7
    assert await with_timeout(asyncio.sleep(0, result=8), None) == 8


async def test_wait_done_waits_without_cancelling() -> None:
    task = asyncio.create_task(asyncio.sleep(0.1))
    assert await wait_done(task, 0.01) is False and not task.cancelled()
    assert await wait_done(task, 1.0) is True
