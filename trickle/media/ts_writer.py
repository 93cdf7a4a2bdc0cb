"""Frames → one continuous MPEG-TS stream, cut into trickle segments at keyframes.

One PyAV ``mpegts`` muxer writes the whole stream; its bytes go through a :class:`TsSegmenter`
to the :class:`SegmentSink` the moment they are written (``flush_packets=1``: no 32 KB buffering),
so the first bytes of a segment leave before the segment is complete. Because a single muxer
writes everything, continuity counters and timestamps continue across segments, and FFmpeg's
muxer re-sends PAT/PMT before every keyframe, where the segmenter cuts.

- video: :class:`VideoEncoder` (``codecs.VIDEO``; re-created on a size change; the muxer stream stays), written
  with ``omit_video_pes_length=0`` so a reader can hand on a frame as soon as its PES is complete;
- audio (optional): Opus 48 kHz stereo, held (up to 100 frames) until the first video frame is
  written, and audio older than that frame dropped, so the first segment starts with tables and
  an IDR like every other;
- timestamps: output pts = input pts, kept monotonic by :class:`MonotonicPts` (see ``timing``).

With audio, FFmpeg's interleaver may hold the newest packet until a packet of the other stream,
or the next one of its own, arrives (``max_interleave_delta`` is set to its minimum): at most one
frame interval of extra latency. Without audio nothing is held.
"""

from __future__ import annotations

import logging
from collections import deque
from fractions import Fraction

import av

from .audio_out import OpusEncoder, add_opus_stream
from .avcompat import add_video_mux_stream
from .codecs import ENCODER_THREADS, VIDEO
from .frames import AudioFrame, VideoFrame
from .scaler import SCALER_THREADS
from .segmenter import SegmentSink, TsSegmenter
from .stats import EncoderStats
from .timing import CLOCK_HZ, TB_90K, MonotonicPts
from .video_out import VideoEncoder

log = logging.getLogger(__name__)

EARLY_AUDIO_FRAMES = 100  # audio held until the first video frame is written (about 2 s)
MUXER_OPTIONS = {
    "flush_packets": "1",
    "omit_video_pes_length": "0",
    "max_interleave_delta": "1",
}


class _SegmenterFile:
    """The write-only file object PyAV muxes into."""

    def __init__(self, segmenter: TsSegmenter) -> None:
        self._segmenter = segmenter

    def write(self, data: bytes) -> int:
        self._segmenter.feed(data)
        return len(data)

    def writable(self) -> bool:
        return True


class TsWriter:
    """Not thread-safe: one thread (the encoder's) calls everything."""

    def __init__(
        self,
        sink: SegmentSink,
        stats: EncoderStats,
        *,
        segment_seconds: float = 1.0,
        fps_hint: float = 30.0,
        audio: bool = False,
        preset: str = "superfast",
        threads: int | None = ENCODER_THREADS,
        scaler_threads: int = SCALER_THREADS,
        crf: int = 23,
    ) -> None:
        self.stats = stats
        self._segmenter = TsSegmenter(sink)
        self._container = av.open(
            _SegmenterFile(self._segmenter), mode="w", format="mpegts", options=MUXER_OPTIONS
        )
        self._video_stream = add_video_mux_stream(self._container, VIDEO, Fraction(fps_hint))
        self._video_stream.time_base = TB_90K
        self._video = VideoEncoder(
            segment_seconds=segment_seconds,
            fps_hint=fps_hint,
            preset=preset,
            threads=threads,
            scaler_threads=scaler_threads,
            crf=crf,
        )
        self._audio: OpusEncoder | None = None
        self._audio_stream: av.AudioStream | None = None
        if audio:
            self._audio_stream = add_opus_stream(self._container)
            self._audio = OpusEncoder(self._audio_stream)
        self._pts = MonotonicPts(max(1, round(CLOCK_HZ / fps_hint)))
        self._first_video_pts: int | None = None
        self._early_audio: deque[AudioFrame] = deque(maxlen=EARLY_AUDIO_FRAMES)
        self._closed = False

    def write_video(self, frame: VideoFrame) -> None:
        pts = self._pts(frame.pts)
        packets = self._video.encode(frame.image, pts)
        self._mux(packets, self._video_stream)
        self.stats.frames += 1
        if self._first_video_pts is None and packets:
            self._start_audio(pts)
        self._update_stats()

    def write_audio(self, frame: AudioFrame) -> None:
        if self._audio is None:
            return
        if self._first_video_pts is None:  # hold audio until the first keyframe is written
            if len(self._early_audio) == self._early_audio.maxlen:
                self.stats.audio_dropped += 1
            self._early_audio.append(frame)
            return
        pts = frame.pts + self._pts.offset
        if pts < self._first_video_pts:
            self.stats.audio_dropped += 1
            return
        packets = self._audio.encode(frame.frame, pts)
        self._mux(packets, self._audio_stream)
        self.stats.audio_frames += len(packets)

    def _start_audio(self, first_video_pts: int) -> None:
        self._first_video_pts = first_video_pts
        while self._early_audio:
            self.write_audio(self._early_audio.popleft())

    def _mux(self, packets: list[av.Packet], stream: av.stream.Stream | None) -> None:
        for packet in packets:
            packet.stream = stream
            self._container.mux(packet)

    def _update_stats(self) -> None:
        s = self.stats
        s.width, s.height = self._video.width, self._video.height
        s.keyframes, s.reinits = self._video.keyframes, self._video.reinits
        s.segments, s.bytes_out = self._segmenter.segments, self._segmenter.bytes_out
        s.pts_adjustments = self._pts.adjustments

    def close(self) -> None:
        """Flush the encoders, write the trailer, end the last segment. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._mux(self._video.flush(), self._video_stream)
            if self._audio is not None and self._first_video_pts is not None:
                self._mux(self._audio.flush(), self._audio_stream)
        finally:
            self._container.close()
            self._segmenter.flush()
            self._update_stats()
