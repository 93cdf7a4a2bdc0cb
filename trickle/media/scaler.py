"""Pixel-format conversions (swscale) on the calling thread.

Every picture is converted twice per frame: the decoder's YUV to the RGB24 a workflow reads, and
the output's RGB24 back to the encoder's YUV 4:2:0. PyAV >= 17 hands each conversion to a pool of
swscale threads, one per core, by default. At 512×512 that pool costs more CPU than it saves time:
on the 2-core CI box RGB24 → YUV 4:2:0 takes 1.00 ms of process CPU per frame with the pool
against 0.90 ms on the calling thread, YUV → RGB24 0.16 against 0.10 ms, with the same bytes out
(``benchmarks/threads.py``). A stream already runs its decoder and encoder on threads of their
own, and other streams use the other cores, so :class:`Scaler` converts on the calling thread by
default; a runner with room for one stream only gives it PyAV's pools (``threads.py``).
"""

from __future__ import annotations

from typing import Any

import av
from av.video.reformatter import VideoReformatter

from .avcompat import reformat_thread_options

SCALER_THREADS = 1  # swscale threads per conversion (the calling thread)


class Scaler:
    """One reused swscale context (like PyAV's ``VideoReformatter``) that converts with
    :data:`SCALER_THREADS` threads. Used from one thread at a time."""

    def __init__(self, threads: int = SCALER_THREADS) -> None:
        self._reformatter = VideoReformatter()
        self._options = reformat_thread_options(threads)

    def reformat(self, frame: av.VideoFrame, **kwargs: Any) -> av.VideoFrame:
        """``VideoReformatter.reformat(frame, **kwargs)`` with this scaler's thread count."""
        return self._reformatter.reformat(frame, **kwargs, **self._options)
