"""BytePipe: the non-seekable byte pipe PyAV reads while bytes still arrive."""

from __future__ import annotations

import threading
import time

import av
from trickle_live.trickle.media.pipe import BytePipe
from trickle_live.trickle.media.testclip import make_test_clip


def test_read_returns_what_is_there_without_waiting_for_n() -> None:
    pipe = BytePipe()
    pipe.write(b"abc")
    pipe.write(b"de")
    assert pipe.read(4) == b"abcd"
    assert pipe.read(100) == b"e"
    assert len(pipe) == 0


def test_read_blocks_until_a_write_from_another_thread() -> None:
    pipe = BytePipe()
    timer = threading.Timer(0.05, pipe.write, args=(b"late",))
    started = time.monotonic()
    timer.start()
    assert pipe.read(10) == b"late"
    assert time.monotonic() - started >= 0.04
    timer.join()


def test_end_drains_then_eof_and_abort_discards() -> None:
    pipe = BytePipe()
    pipe.write(b"xyz")
    pipe.end()
    assert pipe.write(b"ignored") == 0
    assert not pipe.exhausted
    assert pipe.read(2) == b"xy"
    assert pipe.read(2) == b"z"
    assert pipe.read(2) == b""
    assert pipe.exhausted

    other = BytePipe()
    other.write(b"unread")
    other.abort()
    assert other.read(10) == b""


def test_abort_wakes_a_blocked_reader() -> None:
    pipe = BytePipe()
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(pipe.read(10)))
    reader.start()
    time.sleep(0.02)
    pipe.abort()
    reader.join(2)
    assert not reader.is_alive() and result == [b""]


def test_bounded_drops_oldest_bytes_and_counts_them() -> None:
    pipe = BytePipe(max_bytes=10)
    for chunk in (b"aaaa", b"bbbb", b"cccc", b"dddd"):
        pipe.write(chunk)
    assert pipe.dropped_bytes == 8
    assert pipe.read(100) == b"ccccdddd"


def test_read_fed_at_is_the_time_of_the_chunk_read_last() -> None:
    pipe = BytePipe()
    pipe.write(b"a")
    time.sleep(0.01)
    pipe.write(b"b")
    stamp_b = time.monotonic()
    pipe.read(1)
    first = pipe.read_fed_at
    pipe.read(1)
    assert first < pipe.read_fed_at <= stamp_b


def test_pyav_reads_it_as_a_non_seekable_stream() -> None:
    clip = make_test_clip(0.5, 32, 32)
    pipe = BytePipe()
    assert not pipe.seekable() and not hasattr(pipe, "seek")
    pipe.write(clip)
    pipe.end()
    with av.open(pipe, mode="r", format="mpegts") as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 15
