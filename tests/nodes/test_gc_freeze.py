"""gc_freeze: objects are frozen while at least one stream runs, and handed back after the last."""

from __future__ import annotations

import gc
import time
import weakref

from trickle_live.nodes import gc_freeze


def test_frozen_while_streams_run_and_unfrozen_after_the_last() -> None:
    assert gc_freeze.active() == 0 and gc.get_freeze_count() == 0
    try:
        gc_freeze.stream_started()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        gc_freeze.stream_started()  # a second stream freezes nothing more
        assert gc.get_freeze_count() == frozen
        gc_freeze.stream_stopped()
        assert gc.get_freeze_count() == frozen  # one stream still runs
        gc_freeze.stream_stopped()
        assert gc.get_freeze_count() == 0 and gc_freeze.active() == 0
        gc_freeze.stream_stopped()  # an extra stop is harmless
        assert gc_freeze.active() == 0
    finally:
        while gc_freeze.active():
            gc_freeze.stream_stopped()


def test_a_full_collection_skips_what_was_frozen() -> None:
    ballast = [[i] for i in range(300_000)]  # many tracked objects, as in a ComfyUI process
    began = time.perf_counter()
    gc.collect()
    full = time.perf_counter() - began
    gc_freeze.stream_started()
    try:
        began = time.perf_counter()
        gc.collect()
        frozen = time.perf_counter() - began
    finally:
        gc_freeze.stream_stopped()
    del ballast
    assert frozen < full / 3, (frozen, full)


def test_garbage_cycles_from_before_the_stream_are_collected_after_it() -> None:
    class Node:
        other: object = None

    gc.disable()  # no automatic collection between creating the cycle and freezing it
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        gc_freeze.stream_started()
        gc.collect()
        assert ref() is not None  # frozen: kept during the stream
        gc_freeze.stream_stopped()
        gc.collect()
        assert ref() is None
    finally:
        gc.enable()
