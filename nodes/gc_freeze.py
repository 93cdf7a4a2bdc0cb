"""Keep the cyclic garbage collector from stalling live streams inside ComfyUI.

ComfyUI's prompt worker calls ``gc.collect()`` at most every 10 s after a prompt ran, and each
stream frame is a prompt. A full collection walks every tracked object of the process (about
450 000 once torch and the core nodes are imported): measured 216 ms on the 2-core dev box,
with the GIL held, so every thread of the process — decode, encode, trickle I/O — stops, and
7–10 frames at 30 fps leave late (p99 latency 350 ms instead of 45 ms). Python's own
generation-2 collections walk the same objects.

While at least one stream runs, the objects that exist when it starts (modules, nodes, models)
are moved to the permanent generation with ``gc.freeze()``; collections then only walk what was
created since (per-frame garbage), which takes well under a millisecond. When the last stream
ends, ``gc.unfreeze()`` hands them back to the collector, so nothing is kept for good: garbage
cycles that existed at the start, or a model unloaded in a reference cycle during a stream,
are collected after the stream instead of during it.
"""

from __future__ import annotations

import gc
import logging
import threading

log = logging.getLogger(__name__)

_lock = threading.Lock()
_streams = 0


def stream_started() -> None:
    global _streams
    with _lock:
        _streams += 1
        if _streams == 1:
            gc.freeze()
            log.debug("gc: %d objects frozen while streams run", gc.get_freeze_count())


def stream_stopped() -> None:
    global _streams
    with _lock:
        if _streams == 0:
            return
        _streams -= 1
        if _streams == 0:
            gc.unfreeze()
            log.debug("gc: objects unfrozen (no stream running)")


def active() -> int:
    with _lock:
        return _streams
