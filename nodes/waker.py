"""Set an asyncio event from any thread, with at most one wake-up in flight."""

from __future__ import annotations

import asyncio
import threading


class Waker:
    """Sets the driver's wake event from any thread, with at most one wake-up in flight.

    ComfyUI's queue calls the listener on every put, get and done (three per frame, from the
    loop and the worker thread); each ``call_soon_threadsafe`` writes to the loop's self-pipe,
    and from the worker that means a GIL hand-over. One pending wake-up covers them all."""

    def __init__(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        self._loop = loop
        self._event = event
        self._pending = False
        self._loop_thread = threading.get_ident()  # made on the loop

    def __call__(self) -> None:
        if threading.get_ident() == self._loop_thread:
            self._event.set()
            return
        if self._pending:
            return
        self._pending = True
        try:
            self._loop.call_soon_threadsafe(self._fire)
        except RuntimeError:  # loop closed: nobody waits any more
            self._pending = False

    def _fire(self) -> None:
        self._pending = False
        self._event.set()
