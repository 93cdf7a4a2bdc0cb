"""How many threads FFmpeg may start for one stream, by how many streams the runner serves.

A runner of capacity 1 has the machine for its one stream: FFmpeg keeps its own choices, x264's
threads (1.5 per core) and, on PyAV >= 17, a pool of swscale threads per conversion, which let one
stream fed as fast as possible encode more frames a second. A runner that serves several streams
shares the cores between them, and those pools cost CPU that each stream takes from the others:
there each stream converts on its own decoder and encoder threads (``scaler.SCALER_THREADS``) and
encodes on its encoder thread up to 1280×720 (``codecs.encoder_threads``). At 512×512 that is
≈0.8 ms less CPU per frame, and on the 2-core CI box 7 streams sustained instead of 5
(docs/performance.md, "Thread settings per stream").
"""

from __future__ import annotations

from dataclasses import dataclass

from .codecs import ENCODER_THREADS
from .scaler import SCALER_THREADS


@dataclass(frozen=True)
class StreamThreads:
    """One stream's FFmpeg threads."""

    encoder: int | None  # x264's codec threads: 0 the codec's choice, None by picture size
    scaler: int  # swscale threads per conversion: 0 PyAV's default, 1 the calling thread


SHARED = StreamThreads(encoder=ENCODER_THREADS, scaler=SCALER_THREADS)
ALONE = StreamThreads(encoder=0, scaler=0)


def stream_threads(capacity: int) -> StreamThreads:
    """The threads of each stream of a runner serving up to ``capacity`` streams at once."""
    return ALONE if capacity <= 1 else SHARED
