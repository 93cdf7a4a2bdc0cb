"""A local test stream: generated frames through a processor, no network, no codec.

The workflow author's "try it" button, and the integration tests' way to measure the driver alone:
frames of the test pattern go into the processor's input queue at a fixed rate (or as fast as the
graph takes them), the outputs are counted and checked (pts kept, one output per input), and the
per-frame time is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from ..trickle.media.frame_queue import FrameQueue, QueueClosed
from ..trickle.media.frames import VideoFrame
from ..trickle.session.processor import FrameIO, FrameProcessor, ProcessorState
from ..trickle.timeouts import with_timeout
from .pattern import test_pattern

log = logging.getLogger(__name__)


class LocalTestStream:
    def __init__(
        self,
        processor: FrameProcessor,
        *,
        seconds: float = 5.0,
        fps: float = 30.0,
        width: int = 512,
        height: int = 512,
        paced: bool = True,
        stream_id: str = "local-test",
    ) -> None:
        self.processor = processor
        self.seconds, self.fps, self.paced = seconds, fps, paced
        self.width, self.height = width, height
        self.events: list[dict[str, Any]] = []
        self.output: FrameQueue[VideoFrame] = FrameQueue(maxsize=1_000_000)
        self.io = FrameIO(
            stream_id=stream_id,
            input=FrameQueue(maxsize=2 if paced else 8),
            output=self.output,
            report_error=lambda m, d: self.events.append({"type": "error", "msg": m, **d}),
            report_info=lambda m, d: self.events.append({"type": "info", "msg": m, **d}),
        )
        self.sent: dict[int, float] = {}
        self.received: list[VideoFrame] = []
        self.latencies: list[float] = []
        self.started_at = 0.0
        self.last_output_at = 0.0
        self.done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.latest_output: VideoFrame | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="local-test-stream")

    async def wait(self, timeout: float | None = None) -> dict[str, Any]:
        await with_timeout(self.done.wait(), timeout)
        return self.stats()

    async def stop(self) -> dict[str, Any]:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.stats()

    async def _run(self) -> None:
        reader = asyncio.get_running_loop().create_task(self._read())
        try:
            await self.processor.start(self.io)
            await self._wait_ready()
            await self._feed()
            await with_timeout(asyncio.shield(reader), max(5.0, self.seconds))
        except asyncio.TimeoutError:
            log.warning("local test stream: outputs still missing after the input ended")
        finally:
            self.io.input.close()
            await self.processor.stop()
            self.output.close()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            self.done.set()

    async def _wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.processor.state is ProcessorState.LOADING and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def _frame_count(self) -> int:
        return max(1, round(self.seconds * self.fps))

    async def _feed(self) -> None:
        self.started_at = time.monotonic()
        step = 90_000 / self.fps
        for index in range(self._frame_count()):
            if self.paced:
                delay = self.started_at + index / self.fps - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            image = test_pattern(self.width, self.height, index)
            now = time.monotonic()
            self.sent[index] = now
            self.io.input.put(VideoFrame(image, round(index * step), index, now))
            while not self.paced and len(self.io.input) >= 4:  # as fast as the graph takes them
                await asyncio.sleep(0.001)

    async def _read(self) -> None:
        """Collect outputs until every input frame is answered (or was dropped as stale)."""
        while len(self.received) + self.io.input.dropped < self._frame_count():
            try:
                frame = self.output.get(timeout=0)
            except QueueClosed:
                return
            if frame is None:
                await asyncio.sleep(0.002)
                continue
            self.last_output_at = time.monotonic()
            self.received.append(frame)
            self.latest_output = frame
            sent = self.sent.get(frame.index)
            if sent is not None:
                self.latencies.append(time.monotonic() - sent)

    def stats(self) -> dict[str, Any]:
        out = self.received
        elapsed = (self.last_output_at or time.monotonic()) - (self.started_at or time.monotonic())
        lat = sorted(self.latencies)
        step = 90_000 / self.fps
        return {
            "frames_in": len(self.sent),
            "frames_out": len(out),
            "dropped_in": self.io.input.dropped,
            "pts_ok": all(f.pts == round(f.index * step) for f in out),
            "in_order": all(a.index < b.index for a, b in zip(out, out[1:], strict=False)),
            "duplicates": len(out) - len({f.index for f in out}),
            "out_size": [out[-1].width, out[-1].height] if out else None,
            "fps_out": round(len(out) / elapsed, 2) if elapsed > 0 else 0.0,
            "latency_ms_p50": round(lat[len(lat) // 2] * 1000, 2) if lat else None,
            "latency_ms_p95": round(lat[int(len(lat) * 0.95)] * 1000, 2) if lat else None,
            "processor_state": self.processor.state.value,
            "events": self.events[-20:],
            "running": not self.done.is_set(),
        }
