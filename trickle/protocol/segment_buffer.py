"""One server-side segment: an append-only byte buffer that many readers follow while it grows.

The buffer lives on the server's event loop (no locks). Readers keep their own position (an index
into the list of appended chunks) and wait for a change with :meth:`wait_change`; the publisher's
handler appends and finally closes. A closed segment never grows again.
"""

from __future__ import annotations

import asyncio

from ..timeouts import with_timeout

MAX_WRITE = 1 << 20  # bytes handed to one reader per write (a page in go-livepeer's buffer)


class SegmentBuffer:
    """The bytes of one segment ``seq`` of a channel, as they arrive."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.size = 0
        self.closed = False
        self._chunks: list[bytes] = []
        self._changed = asyncio.Event()
        self._closed_event = asyncio.Event()

    def append(self, data: bytes) -> bool:
        """Add bytes and wake every reader; False (bytes dropped) when the segment is closed."""
        if self.closed:
            return False
        if data:
            self._chunks.append(bytes(data))
            self.size += len(data)
            self._wake()
        return True

    def close(self) -> None:
        """End the segment: readers finish after what they have, a waiting POST is released."""
        if self.closed:
            return
        self.closed = True
        self._closed_event.set()
        self._wake()

    def read_from(self, index: int) -> tuple[bytes, int]:
        """The bytes after chunk ``index`` (at most about MAX_WRITE) and the index to go on from."""
        end = index
        total = 0
        while end < len(self._chunks) and total < MAX_WRITE:
            total += len(self._chunks[end])
            end += 1
        if end == index:
            return b"", index
        if end == index + 1:
            return self._chunks[index], end
        return b"".join(self._chunks[index:end]), end

    def at_end(self, index: int) -> bool:
        """True when a reader at ``index`` has everything and the segment is closed."""
        return self.closed and index >= len(self._chunks)

    async def wait_change(self, index: int, timeout: float | None) -> bool:
        """Wait until there are bytes after ``index`` or the segment closes; False on timeout."""
        while index >= len(self._chunks) and not self.closed:
            try:
                await with_timeout(self._changed.wait(), timeout)
            except asyncio.TimeoutError:
                return False
        return True

    async def wait_closed(self) -> None:
        """Return once the segment is closed."""
        await self._closed_event.wait()

    def _wake(self) -> None:
        event = self._changed
        self._changed = asyncio.Event()
        event.set()
