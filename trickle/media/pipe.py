"""A non-seekable, thread-safe byte pipe that a PyAV demuxer reads while bytes still arrive.

Writers (any thread) call :meth:`BytePipe.write` and never block; the one reader (the decode
thread, inside PyAV's I/O callback) blocks in :meth:`BytePipe.read` until bytes are there, the
writer has ended, or the pipe is aborted. ``read`` returns whatever is available (at most ``n``
bytes) instead of waiting for ``n``, so demuxing starts before a segment is complete.

The pipe has no ``seek``/``tell``, so PyAV opens it as a non-seekable stream (like an HTTP body).
It is bounded: when the reader falls more than ``max_bytes`` behind, the oldest bytes are dropped
and counted (live video prefers fresh input; the demuxer resynchronises on the next keyframe).

Segment boundaries (optional): :meth:`mark_boundary` after the last byte of an input segment makes
the reader see end-of-file there, and keep seeing it (a demuxer may read again after an EOF) until
it calls :meth:`resume` for the next segment. So each segment can be demuxed by its own demuxer,
which flushes the segment's last PES at once instead of waiting for the next PES to begin.
"""

from __future__ import annotations

import threading
import time
from collections import deque

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
_BOUNDARY = b""  # a queue entry without bytes marks the end of a segment (write() skips b"")


class BytePipe:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._chunks: deque[tuple[bytes, float]] = deque()
        self._head_offset = 0  # bytes of the head chunk already read
        self._size = 0  # unread bytes
        self._cond = threading.Condition()
        self._ended = False
        self._aborted = False
        self.max_bytes = max_bytes
        self.bytes_in = 0
        self.bytes_read = 0
        self.dropped_bytes = 0
        # time.monotonic() of the write() whose bytes were read most recently (latency accounting)
        self.read_fed_at = 0.0
        self.boundaries_read = 0  # segment boundaries the reader has reached
        self._at_boundary = False  # the reader reached one and has not resumed yet

    def write(self, data: bytes) -> int:
        """Append ``data`` (non-blocking). Ignored after end/abort. Returns len(data)."""
        if not data:
            return 0
        with self._cond:
            if self._ended or self._aborted:
                return 0
            self._chunks.append((bytes(data), time.monotonic()))
            self._size += len(data)
            self.bytes_in += len(data)
            if self._size > self.max_bytes:
                self._drop_oldest()
            self._cond.notify()
        return len(data)

    def _drop_oldest(self) -> None:
        while self._size > self.max_bytes and len(self._chunks) > 1:
            chunk, _ = self._chunks.popleft()
            lost = len(chunk) - self._head_offset
            self._head_offset = 0
            self._size -= lost
            self.dropped_bytes += lost

    def mark_boundary(self) -> None:
        """The bytes written so far end a segment: the reader reads EOF there until resume()."""
        with self._cond:
            if self._ended or self._aborted:
                return
            self._chunks.append((_BOUNDARY, time.monotonic()))
            self._cond.notify()

    def resume(self) -> None:
        """Reader side: go on past the boundary reached (no-op when not at one)."""
        with self._cond:
            self._at_boundary = False

    @property
    def at_boundary(self) -> bool:
        """True while the reader sits at a segment boundary it reached (until resume())."""
        return self._at_boundary

    def end(self) -> None:
        """No more writes: the reader drains what is left, then reads EOF."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Discard unread bytes; the reader reads EOF at once."""
        with self._cond:
            self._aborted = True
            self._chunks.clear()
            self._size = 0
            self._head_offset = 0
            self._cond.notify_all()

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all available if ``n`` < 0); blocks until some exist; b"" at EOF.

        Never reads across a segment boundary: b"" there, and after it until resume().
        """
        with self._cond:
            while not (self._chunks or self._ended or self._aborted or self._at_boundary):
                self._cond.wait()
            if self._aborted or self._at_boundary or not self._chunks:
                return b""
            if not self._chunks[0][0]:  # a boundary
                self._chunks.popleft()
                self._at_boundary = True
                self.boundaries_read += 1
                return b""
            return self._take(self._size if n < 0 else min(n, self._size))

    def _take(self, n: int) -> bytes:
        """Up to ``n`` bytes from the head, stopping at a boundary."""
        parts: list[bytes] = []
        want = n
        while want and self._chunks and self._chunks[0][0]:  # up to a boundary
            chunk, fed_at = self._chunks[0]
            start = self._head_offset
            avail = len(chunk) - start
            if avail <= want:
                parts.append(chunk if start == 0 else chunk[start:])
                self._chunks.popleft()
                self._head_offset = 0
                want -= avail
            else:
                parts.append(chunk[start : start + want])
                self._head_offset += want
                want = 0
            self.read_fed_at = fed_at
        n -= want
        self._size -= n
        self.bytes_read += n
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    @property
    def ended(self) -> bool:
        """True once end() or abort() was called (unread bytes may remain after end())."""
        return self._ended or self._aborted

    @property
    def exhausted(self) -> bool:
        """True when no byte will ever be read again."""
        with self._cond:
            return self._aborted or (self._ended and not self._size)

    def __len__(self) -> int:
        with self._cond:
            return self._size
