"""Decode thread → bounded drop-oldest FrameQueue → asyncio (issue #3, docs/architecture.md): the decoder runs
on its own thread, a slow asyncio consumer gets the freshest frames without blocking its loop, drops
are counted, and everything stops cleanly."""

from __future__ import annotations

import asyncio
import threading

import pytest
from trickle_live.trickle.media.decoder import StreamDecoder
from trickle_live.trickle.media.frame_queue import FrameQueue, QueueClosed
from trickle_live.trickle.media.frames import VideoFrame
from trickle_live.trickle.media.testclip import make_test_clip, read_frame_number


async def test_decode_thread_hands_fresh_frames_to_asyncio_through_a_bounded_queue() -> None:
    clip = make_test_clip(2.0, 64, 64, 30)
    queue: FrameQueue[VideoFrame] = FrameQueue(maxsize=3)
    threads: set[str] = set()

    def on_video(frame: VideoFrame) -> None:
        threads.add(threading.current_thread().name)
        queue.put(frame)

    decoder = StreamDecoder(on_video, name="handoff")
    decoder.start()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    tick_task = asyncio.create_task(ticker())
    got: list[int] = []
    try:
        decoder.feed(clip)
        decoder.end()
        # the input's end closes the queue once the decode thread has finished
        closer = asyncio.create_task(asyncio.to_thread(lambda: decoder.wait(10) and queue.close()))
        while True:  # a consumer slower than the decoder
            try:
                frame = await asyncio.wait_for(queue.aget(), 5)
            except QueueClosed:
                break
            got.append(read_frame_number(frame.image))
            await asyncio.sleep(0.02)
        await closer
    finally:
        tick_task.cancel()
        decoder.close()
    assert threads and threading.main_thread().name not in threads  # decoded on its own thread
    assert decoder.stats.frames == 60 and not decoder.running
    assert queue.dropped > 0 and len(got) + queue.dropped == 60  # nothing lost silently
    assert got == sorted(got) and got[-1] == 59  # in order, and the newest frame survives
    assert ticks > 10  # the loop kept running while the consumer waited
    with pytest.raises(QueueClosed):
        await queue.aget()
