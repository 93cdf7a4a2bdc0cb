"""The threads FFmpeg starts inside a block of code (swscale pools, codec threads), as the OS sees
them (``/proc/self/task``): they are not Python threads, so the OS threads that ran in the block are
compared against the Python threads that did."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TASKS = Path("/proc/self/task")
HAS_TASKS = TASKS.is_dir()


def _os_threads() -> set[int]:
    return {int(name) for name in os.listdir(TASKS)}


@contextmanager
def native_threads() -> Iterator[set[int]]:
    """The threads that run at some point inside the block and are not Python threads (FFmpeg's
    pools), looked at every 2 ms: a codec's threads may end before the block does."""
    before = _os_threads()
    seen_os: set[int] = set()
    seen_python: set[int | None] = set()
    done = threading.Event()

    def look() -> None:
        seen_python.update(t.native_id for t in threading.enumerate())
        seen_os.update(_os_threads())
        seen_python.update(t.native_id for t in threading.enumerate())

    def poll() -> None:
        while not done.wait(0.002):
            look()

    poller = threading.Thread(target=poll, name="thread-poll", daemon=True)
    poller.start()
    found: set[int] = set()
    try:
        yield found
    finally:
        done.set()
        poller.join(5)
        look()
        found.update(seen_os - before - seen_python)
