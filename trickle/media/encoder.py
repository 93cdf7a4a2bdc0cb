"""Processed frames → MPEG-TS trickle segments, on the stream's encode thread (docs/architecture.md).

:class:`StreamEncoder` owns one thread and one :class:`TsWriter`. ``put_video`` / ``put_audio``
may be called from any thread and never block: video waits in a small queue that drops the
oldest frame when full (live video prefers fresh frames; drops are counted), audio in a larger one.
With ``max_age`` the video queue drops by waiting time instead (like ``FrameQueue``): a frame that
waited longer than ``max_age`` seconds is dropped when a newer one is behind it, so a burst is
encoded whole and only an encoder slower than real time loses frames.
The thread encodes, muxes and hands bytes to the :class:`SegmentSink` as they are written:
``begin_segment`` when a segment's first bytes are ready (always at a keyframe), ``write`` for
each piece, ``end_segment`` when the next keyframe (or the end of the stream) arrives. The sink is
called on the encode thread; a sink or codec that raises stops the encoder: ``failed`` holds the
message, ``on_failed`` (``on_error`` when none is given) and ``stats.last_error`` report it, and
``put_video`` refuses frames from then on (returns False). A frame the codec rejects is skipped
and reported through ``on_error``.

Segmenting and time-base rules: see ``segmenter``, ``timing`` and ``docs/media.md``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from ..errors import MediaError
from .codecs import ENCODER_THREADS
from .frame_queue import pop_fresh
from .frames import AudioFrame, VideoFrame
from .scaler import SCALER_THREADS
from .segmenter import SegmentSink
from .stats import EncoderStats
from .ts_writer import TsWriter

__all__ = ["SegmentSink", "StreamEncoder"]

log = logging.getLogger(__name__)

AUDIO_QUEUE = 256


class StreamEncoder:
    def __init__(
        self,
        sink: SegmentSink,
        *,
        segment_seconds: float = 1.0,
        fps_hint: float = 30.0,
        audio: bool = False,
        name: str = "encoder",
        preset: str = "superfast",
        threads: int | None = ENCODER_THREADS,
        scaler_threads: int = SCALER_THREADS,
        crf: int = 23,
        queue_size: int = 4,
        max_age: float | None = None,
        on_error: Callable[[str], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
    ) -> None:
        if segment_seconds <= 0:
            raise ValueError(f"segment_seconds: expected > 0, received {segment_seconds}")
        if fps_hint <= 0:
            raise ValueError(f"fps_hint: expected > 0, received {fps_hint}")
        self._sink = sink
        self._settings = (segment_seconds, fps_hint, preset, threads, scaler_threads, crf)
        self.name = name
        self.audio = audio
        self._on_error = on_error
        self._on_failed = on_failed
        self.failed: str | None = None  # why the encode thread ended early, if it did
        if max_age is not None and not max_age > 0:
            raise ValueError(f"max_age: expected > 0 seconds or None, received {max_age}")
        self._video: deque[VideoFrame] = deque()
        self._video_times: deque[float] = deque()  # when each waiting frame was put
        self._max_age = max_age
        self._audio: deque[AudioFrame] = deque()
        self._queue_size = max(1, queue_size)
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.stats = EncoderStats()

    # -- any thread ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: already started")
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def put_video(self, frame: VideoFrame) -> bool:
        """Queue a processed frame (never blocks; the oldest waiting frame goes when full).

        False when the encoder is closing or has failed: the frame will never be encoded."""
        with self._cond:
            if self._closing:
                return False
            if len(self._video) >= self._queue_size:
                self._video.popleft()
                self._video_times.popleft()
                self.stats.dropped += 1
            self._video.append(frame)
            self._video_times.append(time.monotonic())
            self._cond.notify()
            return True

    def put_audio(self, frame: AudioFrame) -> None:
        """Queue an audio frame (ignored unless the encoder was made with ``audio=True``)."""
        if not self.audio:
            return
        with self._cond:
            if self._closing:
                return
            if len(self._audio) >= AUDIO_QUEUE:
                self._audio.popleft()
                self.stats.audio_dropped += 1
            self._audio.append(frame)
            self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Encode what is queued, flush, end the last segment and join the thread. Idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s: encode thread did not stop within %.1fs", self.name, timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- encode thread -------------------------------------------------------------------------

    def _next_batch(self) -> tuple[list[AudioFrame], VideoFrame | None] | None:
        with self._cond:
            while not self._video and not self._audio and not self._closing:
                self._cond.wait()
            if not self._video and not self._audio:
                return None
            video = self._pop_video() if self._video else None
            audio: list[AudioFrame] = []
            while self._audio and (video is None or self._audio[0].pts <= video.pts):
                audio.append(self._audio.popleft())  # in pts order with the video
            return audio, video

    def _pop_video(self) -> VideoFrame:
        """Under the lock, with video waiting: the oldest frame not too old (or the newest)."""
        frame, dropped = pop_fresh(self._video, self._video_times, self._max_age)
        self.stats.dropped += dropped
        return frame

    def _run(self) -> None:
        writer: TsWriter | None = None
        try:
            writer = self._open_writer()
            while (batch := self._next_batch()) is not None:
                audio, video = batch
                for item in audio:
                    writer.write_audio(item)
                if video is not None:
                    self._write_video(writer, video)
            writer.close()
        except Exception as exc:  # task boundary: the sink or the codec failed
            log.exception("%s: encode thread failed", self.name)
            with self._cond:
                self._closing = True  # no frame is taken from now on
            self.failed = f"encoder stopped: {type(exc).__name__}: {exc}"
            self.stats.errors += 1
            self.stats.last_error = self.failed
            callback = self._on_failed or self._on_error
            if callback is not None:
                callback(self.failed)
            if writer is not None:
                self._close_quietly(writer)
        finally:
            with self._cond:
                self._closing = True
                self.stats.dropped += len(self._video)  # queued, never encoded
                self._video.clear()
                self._audio.clear()

    def _open_writer(self) -> TsWriter:
        segment_seconds, fps_hint, preset, threads, scaler_threads, crf = self._settings
        return TsWriter(
            self._sink,
            self.stats,
            segment_seconds=segment_seconds,
            fps_hint=fps_hint,
            audio=self.audio,
            preset=preset,
            threads=threads,
            scaler_threads=scaler_threads,
            crf=crf,
        )

    def _write_video(self, writer: TsWriter, frame: VideoFrame) -> None:
        try:
            writer.write_video(frame)
        except MediaError as exc:  # a bad frame: skip it, keep the stream
            self._report(str(exc))

    def _close_quietly(self, writer: TsWriter) -> None:
        try:
            writer.close()
        except Exception:  # already failing: the first error is the one reported
            log.debug("%s: close after failure also failed", self.name, exc_info=True)

    def _report(self, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = message
        if self._on_error is not None:
            self._on_error(message)
