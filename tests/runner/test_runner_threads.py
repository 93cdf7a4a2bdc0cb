"""A stream's encoder threads follow the runner's capacity: with room for one stream, x264 may use
the cores (its own threads); with room for several, each stream encodes on its encoder thread
(docs/media.md, "Threads per stream"). Counted as the OS sees them (``tests/native_threads.py``),
through the standalone runner with the in-process trickle server as the orchestrator."""

from __future__ import annotations

from typing import Any

import pytest
from runner_streamkit import end_stream, open_stream, wait_for
from trickle_live.trickle.media.testclip import make_test_clip, split_segments

from ..native_threads import HAS_TASKS, native_threads

pytestmark = pytest.mark.skipif(not HAS_TASKS, reason="needs Linux's /proc/self/task")

SIZE = 256  # x264 starts no threads of its own for the 64² pictures of the other stream tests


async def _stream(make_runner: Any, orchestrator: Any, capacity: int) -> set[int]:
    """FFmpeg's threads that ran while one 256² stream went through a runner of ``capacity``."""
    runner = await make_runner("passthrough", capacity=capacity)
    parts = split_segments(make_test_clip(4.0, SIZE, SIZE, 15.0, keyframe_seconds=1.0))
    segments = [(part, 4.0 / len(parts)) for part in parts]
    with native_threads() as started:
        gateway, channels, status, body, _ = await open_stream(orchestrator, runner.url)
        assert (status, body) == (200, {})
        try:
            await gateway.publish(segments)
            await wait_for(lambda: gateway.output.segments >= 2, 20)
        finally:
            await end_stream(orchestrator, channels, gateway, runner, 10)
    return started


async def test_the_streams_ffmpeg_threads_follow_the_runners_capacity(
    make_runner: Any, orchestrator: Any
) -> None:
    """Capacity 1: x264 and swscale start their own threads for the only stream (as on aba4863).
    Capacity 2: none (on aba4863 x264's and swscale's started there too)."""
    alone = await _stream(make_runner, orchestrator, capacity=1)
    shared = await _stream(make_runner, orchestrator, capacity=2)
    assert alone, "the only stream of a runner keeps FFmpeg's own threads"
    assert shared == set()
