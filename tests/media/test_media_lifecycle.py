"""Starting and stopping decoders and encoders leaves no thread or file descriptor behind."""

from __future__ import annotations

import gc
import os
import threading

import pytest
from trickle_live.trickle.media.decoder import StreamDecoder
from trickle_live.trickle.media.encoder import StreamEncoder
from trickle_live.trickle.media.testclip import SegmentCollector, make_test_clip


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count fds")
def test_100_open_close_cycles_leak_nothing() -> None:
    clip = make_test_clip(0.2, 32, 32, 30.0)
    StreamDecoder(lambda f: None).close()  # warm imports and codec tables
    gc.collect()
    threads, fds = threading.active_count(), _fds()
    for cycle in range(100):
        sink = SegmentCollector()
        encoder = StreamEncoder(sink, threads=1, name=f"enc-{cycle}")
        decoder = StreamDecoder(encoder.put_video, name=f"dec-{cycle}")
        encoder.start()
        decoder.start()
        if cycle % 2:  # half of them stop mid-stream, half after the input ended
            decoder.feed(clip[: len(clip) // 2])
        else:
            decoder.feed(clip)
            decoder.end()
            assert decoder.wait(5)
        decoder.close()
        encoder.close()
        assert not decoder.running and not encoder.running
        if cycle % 2 == 0:
            assert encoder.stats.frames + encoder.stats.dropped == 6
            assert encoder.stats.frames and sink.segments and not sink.open
    gc.collect()
    assert threading.active_count() == threads
    assert _fds() <= fds
