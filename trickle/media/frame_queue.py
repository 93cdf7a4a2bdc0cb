"""A bounded, thread-safe frame queue with the live-video drop policy (docs/architecture.md).

Producers never block: when the queue is full the *oldest* waiting item is dropped and counted,
because live video prefers fresh frames. With ``max_age``, the queue drops by waiting time
instead of by count: a consumer skips (and counts) items that waited longer than ``max_age``
seconds while a newer one is behind them, and ``maxsize`` only bounds memory. A burst of fresh
frames (a segment decoded at once) is then kept whole, while a consumer that falls behind real
time still sees at most ``max_age`` of queueing delay. Consumers block with a timeout (``get``) from a worker
thread, or await (``aget``) from an asyncio loop without blocking it: an awaiting consumer parks
a future that ``put``/``close`` resolve with ``call_soon_threadsafe`` (one loop wake-up per item,
no thread-pool hop, no polling).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class QueueClosed(Exception):
    """The queue was closed and is empty: no item will ever arrive."""


class FrameQueue(Generic[T]):
    def __init__(
        self,
        maxsize: int = 2,
        max_age: float | None = None,
        on_drop: Callable[[T], None] | None = None,
    ) -> None:
        """``on_drop`` is called with each dropped item, under the queue's lock (keep it short,
        and never call back into the queue)."""
        if maxsize < 1:
            raise ValueError(f"maxsize: expected >= 1, received {maxsize}")
        if max_age is not None and not max_age > 0:
            raise ValueError(f"max_age: expected > 0 seconds or None, received {max_age}")
        self.maxsize = maxsize
        self.max_age = max_age
        self._items: deque[T] = deque()
        self._times: deque[float] = deque()  # when each waiting item was put (monotonic)
        self._cond = threading.Condition()
        self._closed = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._listeners: tuple[Callable[[], None], ...] = ()
        self.put_count = 0
        self.dropped = 0
        self._on_drop = on_drop

    def put(self, item: T) -> bool:
        """Add ``item``; drop the oldest item when full. Returns False when the queue is closed."""
        with self._cond:
            if self._closed:
                return False
            if len(self._items) >= self.maxsize:
                gone = self._items.popleft()
                self._times.popleft()
                self.dropped += 1
                if self._on_drop is not None:
                    self._on_drop(gone)
            self._items.append(item)
            self._times.append(time.monotonic())
            self.put_count += 1
            self._cond.notify()
            self._wake_one()
        for listener in self._listeners:
            listener()
        return True

    def get(self, timeout: float | None = None) -> T | None:
        """Next item, or None after ``timeout`` seconds. Raises QueueClosed once closed and drained."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    raise QueueClosed()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._pop()

    def take_if(self, accept: Callable[[T], bool]) -> T | None:
        """The next item (as ``get`` would choose it, older ones dropped by age) when
        ``accept(item)`` says yes; else None and the item stays first. Never blocks. Raises
        QueueClosed once closed and drained. For a consumer that takes several items at once
        (a batch of frames of one size)."""
        with self._cond:
            if not self._items:
                if self._closed:
                    raise QueueClosed()
                return None
            self.dropped += drop_stale(self._items, self._times, self.max_age, self._on_drop)
            if not accept(self._items[0]):
                return None
            self._times.popleft()
            return self._items.popleft()

    def _pop(self) -> T:
        """Under the lock, with items waiting: the oldest one not too old (or the newest)."""
        item, dropped = pop_fresh(self._items, self._times, self.max_age, self._on_drop)
        self.dropped += dropped
        return item

    async def aget(self, poll: float = 0.05) -> T:
        """Await the next item from an asyncio loop. Raises QueueClosed once closed and drained.

        ``poll`` is kept for compatibility and unused: ``put`` wakes the waiter directly."""
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                if self._items:
                    return self._pop()
                if self._closed:
                    raise QueueClosed()
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, waiter))
            try:
                await waiter
            except asyncio.CancelledError:
                with self._cond:
                    if (loop, waiter) in self._waiters:
                        self._waiters.remove((loop, waiter))
                    elif self._items or self._closed:
                        self._wake_one()  # it was woken for an item: pass the wake-up on
                raise

    def _wake_one(self) -> None:
        """Under the lock: resolve the oldest awaiting consumer's future on its own loop."""
        while self._waiters:
            loop, waiter = self._waiters.pop(0)
            try:
                loop.call_soon_threadsafe(_resolve, waiter)
                return
            except RuntimeError:  # its loop is closed: that consumer is gone
                continue

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (on the producer's thread, outside the lock) after each ``put``
        and on ``close``: lets one consumer wait for whichever of several queues fills first."""
        with self._cond:
            self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._cond:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

    def latest(self) -> T | None:
        """The newest waiting item without removing it (preview), or None."""
        with self._cond:
            return self._items[-1] if self._items else None

    def close(self) -> None:
        """Refuse new items; consumers drain what is left, then get QueueClosed."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            while self._waiters:
                self._wake_one()
        for listener in self._listeners:
            listener()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def pop_fresh(
    items: deque[T],
    times: deque[float],
    max_age: float | None,
    on_drop: Callable[[T], None] | None = None,
) -> tuple[T, int]:
    """Of non-empty ``items`` (put at the monotonic ``times``), the oldest that has not waited
    longer than ``max_age`` — or the newest, which is never dropped — and how many older ones were
    dropped on the way (each passed to ``on_drop``). Both deques lose what is returned or
    dropped; the caller holds its lock."""
    dropped = drop_stale(items, times, max_age, on_drop)
    times.popleft()
    return items.popleft(), dropped


def drop_stale(
    items: deque[T],
    times: deque[float],
    max_age: float | None,
    on_drop: Callable[[T], None] | None = None,
) -> int:
    """Drop the items of ``items`` that waited longer than ``max_age`` while a newer one is behind
    them (the newest is never dropped), each passed to ``on_drop``; how many went. The caller
    holds its lock."""
    dropped = 0
    if max_age is not None and len(items) > 1:
        limit = time.monotonic() - max_age
        while len(items) > 1 and times[0] < limit:
            gone = items.popleft()
            times.popleft()
            dropped += 1
            if on_drop is not None:
                on_drop(gone)
    return dropped
