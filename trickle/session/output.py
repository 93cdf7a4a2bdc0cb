"""The output side of a stream: encoder segments (encoder thread) → trickle publisher (loop).

``OutputChannel`` is the encoder's :class:`SegmentSink`. Its callbacks run on the encoder thread
and only enqueue onto the server loop (``call_soon_threadsafe``); one task on the loop turns them
into trickle segments, writing each chunk as soon as it exists, so the first bytes of a segment
leave before the segment is complete. Drop policy: when more than ``max_pending`` segments wait
(the orchestrator is slower than real time), whole new segments are dropped and counted. When
the output channel is gone (404 / closed), ``on_gone`` is called once and further bytes are
discarded. When the publishing task fails otherwise (an unexpected exception), ``on_failed`` is
called with the message and ``failed`` holds it (the stream then stops; until it has, at most
``max_pending`` segments wait).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import aiohttp

from ..errors import ChannelClosed, ChannelNotFound, RedirectRefused, TrickleError
from ..media.frames import VideoFrame
from ..protocol.publisher import SegmentWriter, TricklePublisher
from ..redaction import redact_channel_url
from ..timeouts import wait_done
from .stats import StreamStats
from .tasks import cancel_and_wait

log = logging.getLogger(__name__)

_BEGIN, _DATA, _END = 0, 1, 2


class OutputChannel:
    def __init__(
        self,
        url: str,
        loop: asyncio.AbstractEventLoop,
        stats: StreamStats,
        *,
        session: aiohttp.ClientSession | None = None,
        verify_tls: bool = False,
        on_first_segment: Callable[[], None] | None = None,
        on_gone: Callable[[str], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        max_pending: int = 3,
    ) -> None:
        self.url = url
        self.shown = redact_channel_url(url, has_seq=False)  # logs: the URL is a capability
        self._loop = loop
        self._stats = stats
        self._publisher = TricklePublisher(url, session=session, verify_tls=verify_tls)
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._lock = threading.Lock()
        self._pending = 0
        self._skipping = False
        self._gone = False
        self._on_first = on_first_segment
        self._on_gone = on_gone
        self._on_failed = on_failed
        self.failed: str | None = None  # why the publishing task ended early, if it did
        self._on_error = on_error  # a failure that ends the output (an error event)
        self._max_pending = max_pending
        self._task: asyncio.Task[None] | None = None

    # --- SegmentSink: called on the encoder thread -------------------------------------------
    def begin_segment(self) -> None:
        with self._lock:
            self._skipping = self._gone or self._pending >= self._max_pending
            if self._skipping:
                if not self._gone:
                    self._stats.segment_out(dropped=True)
                return
            self._pending += 1
        self._post((_BEGIN, b""))

    def write(self, data: bytes) -> None:
        if not self._skipping:
            self._post((_DATA, bytes(data)))

    def end_segment(self) -> None:
        if not self._skipping:
            self._post((_END, b""))

    def _post(self, item: tuple[int, bytes] | None) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # loop closed: the stream is gone
            pass

    # --- loop side ----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"publish {self.shown}")

    @property
    def running(self) -> bool:
        """The publishing task has not ended."""
        return self._task is not None and not self._task.done()

    async def close(self, delete: bool = True, timeout: float = 5.0) -> None:
        """Publish what is queued (bounded by ``timeout``), then close (and DELETE) the channel."""
        self._queue.put_nowait(None)
        if self._task is not None:
            if not await wait_done(self._task, timeout):
                log.warning(
                    "output %s: pending segments not published within %.1fs", self.shown, timeout
                )
            await cancel_and_wait([self._task])
        try:
            await self._publisher.close(delete=delete and not self._gone)
        except (TrickleError, aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            log.info("output %s: close: %s", self.shown, exc)

    async def _run(self) -> None:
        try:
            await self._publish()
        except Exception as exc:  # task boundary: the publisher failed; the stream is told
            log.exception("output %s: publishing failed", self.shown)
            self.failed = f"publisher stopped: {type(exc).__name__}: {exc}"
            if self._on_failed is not None:
                self._on_failed(self.failed)

    async def _publish(self) -> None:
        writer: SegmentWriter | None = None
        first = True
        while (item := await self._queue.get()) is not None:
            kind, data = item
            if self._gone:
                continue
            try:
                if kind == _BEGIN:
                    writer = await self._publisher.next_segment()
                elif kind == _DATA and writer is not None:
                    await writer.write(data)
                elif kind == _END and writer is not None:
                    await writer.close()
                    writer = None
                    self._done_segment(dropped=False)
                    if first and self._on_first is not None:
                        first = False
                        self._on_first()
            except (ChannelNotFound, ChannelClosed) as exc:
                self._mark_gone(str(exc))
            except RedirectRefused as exc:  # never followed: the output ends, as an error
                if self._on_error is not None:
                    self._on_error(f"output: {exc}")
                self._mark_gone(str(exc))
            except (TrickleError, aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                log.warning("output %s: segment failed: %s", self.shown, exc)
                writer = None
                self._done_segment(dropped=True)

    def _done_segment(self, dropped: bool) -> None:
        with self._lock:
            self._pending = max(0, self._pending - 1)
        self._stats.segment_out(dropped=dropped)

    def _mark_gone(self, reason: str) -> None:
        with self._lock:
            self._gone = True
        log.info("output %s gone: %s", self.shown, reason)
        if self._on_gone is not None:
            self._on_gone(reason)


class EmitSink:
    """A session's ``FrameIO.output`` (a ``FrameSink``): no queue, a put hands the frame straight
    to the session's ``emit`` on the caller's thread; after ``close`` a put is refused."""

    def __init__(self, emit: Callable[[VideoFrame], None]) -> None:
        self._emit = emit
        self._closed = False
        self.put_count = 0  # frames handed on (the session's drain check compares it)

    def put(self, item: VideoFrame) -> bool:
        if self._closed:
            return False
        self.put_count += 1
        self._emit(item)
        return True

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed
