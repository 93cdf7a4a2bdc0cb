from __future__ import annotations

import asyncio
import threading
import time

import pytest
from trickle_live.trickle.media.frame_queue import FrameQueue, QueueClosed


def test_drops_oldest_when_full_and_counts() -> None:
    q: FrameQueue[int] = FrameQueue(maxsize=2)
    for i in range(5):
        assert q.put(i)
    assert q.dropped == 3 and q.put_count == 5
    assert [q.get(0), q.get(0)] == [3, 4]
    assert q.get(timeout=0.01) is None


def test_close_drains_then_raises() -> None:
    q: FrameQueue[int] = FrameQueue(maxsize=3)
    q.put(1)
    q.close()
    assert not q.put(2)
    assert q.get(0) == 1
    with pytest.raises(QueueClosed):
        q.get(1.0)


def test_blocking_get_wakes_on_put_from_other_thread() -> None:
    q: FrameQueue[str] = FrameQueue()
    threading.Timer(0.05, q.put, args=("x",)).start()
    assert q.get(timeout=2.0) == "x"


def test_rejects_bad_size() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        FrameQueue(0)


async def test_aget_does_not_block_loop() -> None:
    q: FrameQueue[int] = FrameQueue()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    t = asyncio.create_task(ticker())
    threading.Timer(0.2, q.put, args=(7,)).start()
    assert await asyncio.wait_for(q.aget(), 2.0) == 7
    t.cancel()
    assert ticks >= 5


async def test_aget_raises_when_closed_while_waiting() -> None:
    q: FrameQueue[int] = FrameQueue()
    threading.Timer(0.05, q.close).start()
    with pytest.raises(QueueClosed):
        await asyncio.wait_for(q.aget(), 2.0)


async def test_aget_wakes_at_once_and_keeps_order() -> None:
    q: FrameQueue[int] = FrameQueue(maxsize=1000)
    loop = asyncio.get_running_loop()
    stamps: list[float] = []

    def produce() -> None:
        for i in range(200):
            stamps.append(loop.time())
            q.put(i)
            threading.Event().wait(0.001)

    thread = threading.Thread(target=produce)
    thread.start()
    got, delays = [], []
    for _ in range(200):
        got.append(await asyncio.wait_for(q.aget(), 2.0))
        delays.append(loop.time() - stamps[len(got) - 1])
    thread.join()
    assert got == list(range(200))
    assert sorted(delays)[100] < 0.02  # no polling slice (the old aget waited up to 50 ms)


async def test_a_cancelled_aget_passes_its_wake_up_on() -> None:
    q: FrameQueue[int] = FrameQueue()
    first = asyncio.create_task(q.aget())
    second = asyncio.create_task(q.aget())
    await asyncio.sleep(0.01)
    q.put(5)  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it runs
    assert await asyncio.wait_for(second, 1.0) == 5


def test_max_age_keeps_a_burst_whole() -> None:
    """A burst of fresh items (a decoded segment) is delivered whole: nothing is dropped while
    nothing waited longer than max_age, however many there are (up to maxsize)."""
    q: FrameQueue[int] = FrameQueue(maxsize=12, max_age=5.0)
    for i in range(10):
        q.put(i)
    assert [q.get(0) for _ in range(10)] == list(range(10))
    assert q.dropped == 0


def test_max_age_skips_items_that_waited_too_long_but_keeps_the_newest() -> None:
    q: FrameQueue[int] = FrameQueue(maxsize=12, max_age=0.05)
    for i in range(3):
        q.put(i)
    time.sleep(0.08)
    q.put(3)
    assert q.get(0) == 3  # 0..2 waited too long and a newer item is behind them
    assert q.dropped == 3 and len(q) == 0
    q.put(4)
    time.sleep(0.08)
    assert q.get(0) == 4  # too old, but the newest there is: delivered
    assert q.dropped == 3


def test_max_age_still_bounds_memory_by_count() -> None:
    q: FrameQueue[int] = FrameQueue(maxsize=3, max_age=60.0)
    for i in range(5):
        q.put(i)
    assert q.dropped == 2 and [q.get(0), q.get(0), q.get(0)] == [2, 3, 4]


async def test_max_age_applies_to_aget_too() -> None:
    q: FrameQueue[int] = FrameQueue(maxsize=8, max_age=0.05)
    q.put(1)
    await asyncio.sleep(0.08)
    q.put(2)
    assert await asyncio.wait_for(q.aget(), 1.0) == 2
    assert q.dropped == 1


def test_rejects_bad_max_age() -> None:
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="max_age"):
            FrameQueue(4, max_age=bad)


def test_listeners_hear_every_put_and_the_close() -> None:
    q: FrameQueue[int] = FrameQueue(maxsize=2)
    heard: list[str] = []

    def listener() -> None:
        heard.append("x")

    q.add_listener(listener)
    q.put(1)
    q.put(2)
    q.put(3)  # a put that drops still tells
    q.close()
    assert heard == ["x"] * 4
    q.remove_listener(listener)
    assert not q.put(4) and heard == ["x"] * 4


def test_take_if_takes_only_an_accepted_next_item() -> None:
    q: FrameQueue[int] = FrameQueue(maxsize=4)
    assert q.take_if(lambda i: True) is None  # empty: nothing, no wait
    for i in (1, 2, 30):
        q.put(i)
    assert q.take_if(lambda i: i < 10) == 1
    assert q.take_if(lambda i: i > 10) is None  # 2 is next and refused: it stays first
    assert q.get(0) == 2 and q.take_if(lambda i: i > 10) == 30
    q.close()
    with pytest.raises(QueueClosed):
        q.take_if(lambda i: True)


def test_take_if_drops_by_age_as_get_does() -> None:
    q: FrameQueue[int] = FrameQueue(maxsize=8, max_age=0.05)
    q.put(1)
    time.sleep(0.1)
    q.put(2)
    assert q.take_if(lambda i: True) == 2 and q.dropped == 1
