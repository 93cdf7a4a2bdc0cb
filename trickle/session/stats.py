"""Per-stream counters: frames in/out, frame rates, latency, drops, errors (thread-safe).

The decode thread, the processor's thread and the server loop all update one ``StreamStats``;
readers take a consistent ``snapshot()``. Times are ``time.monotonic()`` seconds internally and
wall-clock milliseconds where they leave the process (events, status pages).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

RATE_WINDOW_S = 2.0
LATENCY_SAMPLES = 256


class RateMeter:
    """Events per second over a sliding window (call ``mark`` from any one thread at a time)."""

    def __init__(self, window: float = RATE_WINDOW_S) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def mark(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return round((len(self._times) - 1) / span, 2) if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()


def monotonic_to_ms(mono: float | None) -> int | None:
    """A ``time.monotonic()`` reading as wall-clock epoch milliseconds."""
    if not mono:
        return None
    return int((time.time() - (time.monotonic() - mono)) * 1000)


class StreamStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started_at = time.monotonic()
        self.frames_in = 0
        self.frames_out = 0
        self.frames_passthrough = 0  # published unprocessed while the processor was not ready
        self.dropped_out_of_order = 0  # processed after a newer frame went out, never published
        self.dropped_input = 0  # dropped by the input queue, never published
        self.frames_superseded = 0  # dropped after an unprocessed copy went out: not lost
        self.segments_in = 0
        self.segments_out = 0
        self.segments_dropped = 0
        self.bytes_in = 0
        self.errors = 0
        self.last_input_time: float | None = None  # last input bytes
        self.last_output_time: float | None = None  # last output frame
        self.last_error: str | None = None
        self.last_error_time: float | None = None
        self.last_params_time: float | None = None
        self._in = RateMeter()
        self._out = RateMeter()
        self._latency: deque[float] = deque(maxlen=LATENCY_SAMPLES)

    def input_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes_in += n
            self.last_input_time = time.monotonic()

    def input_segment(self) -> None:
        with self._lock:
            self.segments_in += 1
            self.last_input_time = time.monotonic()

    def frame_in(self) -> None:
        with self._lock:
            self.frames_in += 1
            self._in.mark(time.monotonic())

    def frame_out(self, received_at: float, passthrough: bool) -> None:
        now = time.monotonic()
        with self._lock:
            self.frames_out += 1
            self.frames_passthrough += int(passthrough)
            self.last_output_time = now
            self._out.mark(now)
            if received_at > 0:
                self._latency.append(now - received_at)

    def out_of_order(self) -> None:
        with self._lock:
            self.dropped_out_of_order += 1

    def input_dropped(self) -> None:
        with self._lock:
            self.dropped_input += 1

    def superseded(self) -> None:
        with self._lock:
            self.frames_superseded += 1

    def segment_out(self, dropped: bool = False) -> None:
        with self._lock:
            if dropped:
                self.segments_dropped += 1
            else:
                self.segments_out += 1

    def error(self, message: str) -> None:
        with self._lock:
            self.errors += 1
            self.last_error = message
            self.last_error_time = time.monotonic()

    def params_updated(self) -> None:
        with self._lock:
            self.last_params_time = time.monotonic()

    def idle_for(self, now: float | None = None) -> float:
        """Seconds since the last input (since start when none came yet)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return now - (self.last_input_time or self.started_at)

    def fps_in(self) -> float:
        with self._lock:
            return self._in.rate(time.monotonic())

    def fps_out(self) -> float:
        with self._lock:
            return self._out.rate(time.monotonic())

    def latency_ms(self) -> dict[str, float | None]:
        with self._lock:
            samples = sorted(self._latency)
        if not samples:
            return {"p50": None, "p95": None, "last": None}

        def pick(q: float) -> float:
            return round(samples[min(len(samples) - 1, int(q * len(samples)))] * 1000, 2)

        return {"p50": pick(0.5), "p95": pick(0.95), "last": round(self._latency[-1] * 1000, 2)}

    def snapshot(self, encoder_drops: int = 0) -> dict[str, Any]:
        """``encoder_drops``: frames handed to the encoder (counted out by :meth:`frame_out`)
        that it dropped or never encoded, so they are drops and not ``frames_out``. ``drops``
        counts every frame that never went out, so ``frames_out + drops`` is ``frames_in`` once
        the stream has drained; ``superseded`` counts frames dropped after an unprocessed copy of
        them went out (not lost)."""
        now = time.monotonic()
        with self._lock:
            data: dict[str, Any] = {
                "uptime_s": round(now - self.started_at, 3),
                "frames_in": self.frames_in,
                "frames_out": max(0, self.frames_out - encoder_drops),
                "frames_passthrough": self.frames_passthrough,
                "fps_in": self._in.rate(now),
                "fps_out": self._out.rate(now),
                "segments_in": self.segments_in,
                "segments_out": self.segments_out,
                "segments_dropped": self.segments_dropped,
                "bytes_in": self.bytes_in,
                "drops": self.dropped_input + self.dropped_out_of_order + encoder_drops,
                "superseded": self.frames_superseded,
                "errors": self.errors,
                "last_error": self.last_error,
                "input_idle_s": round(now - (self.last_input_time or self.started_at), 3),
            }
        data["latency_ms"] = self.latency_ms()
        return data
