"""MPEG-TS (video in ``codecs.VIDEO``, H.264, + optional AAC/Opus) byte stream → RGB video frames and audio frames.

One :class:`StreamDecoder` per input stream, with its own thread (docs/architecture.md). Bytes of the
channel's consecutive segments are fed from any thread into a :class:`BytePipe`; the thread demuxes
and decodes them with PyAV while they arrive and calls ``on_video`` / ``on_audio`` (on the decode
thread: the caller hands frames on through its bounded, drop-oldest queue).

Segments: when the caller says where a segment ends (:meth:`StreamDecoder.end_segment`), each
segment is demuxed by its own demuxer, as the trickle contract allows (every segment is a
complete MPEG-TS stream beginning with PAT/PMT and a keyframe). That is required for publishers
that run a fresh TS muxer per segment (go-livepeer's WHIP ingest, livepeer-gateway's
``MediaPublish``): their continuity counters restart and their PIDs may change, which one demuxer
across segments would take for damage. It also decodes a segment's last frame at once. The
codec contexts outlive the demuxers (``codecs``). Without ``end_segment`` calls the bytes are one
TS stream, as before.

Latency: the demuxer runs without parsers (``fflags=+noparse``), so an access unit is decoded as
soon as its PES is complete: at once when the PES carries a length, otherwise when the next PES of
the stream begins (MPEG-TS gives no earlier end marker). Probing is minimal (``probesize=32``), so
the first frame leaves as soon as the first keyframe is in.

Damage: a PES that the demuxer flags as corrupt (continuity error, truncated segment), a decode
error or a frame the decoder marks corrupt starts a resync: video is skipped up to the next
keyframe, the incident is counted and reported once through ``on_error``, and decoding goes on.
A stream that starts without a keyframe is skipped up to its first keyframe the same way.
Video in another codec than ``codecs.VIDEO`` (MPEG-2, HEVC, … next to H.264) is skipped and
reported once per codec through ``on_error``, naming it. A decode thread that fails (an unexpected exception) is reported
through ``on_failed`` (``on_error`` when none is given); ``failed`` then holds the message.
Timestamps pass through unchanged (see ``timing``); jumps are counted and flagged on the frame.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import av

from .bitstream import split_opus_ts
from .codecs import DECODER_THREADS, VIDEO, DecoderContexts
from .frames import AudioFrame, VideoFrame
from .pipe import DEFAULT_MAX_BYTES, BytePipe
from .scaler import SCALER_THREADS, Scaler
from .stats import DecoderStats
from .timing import FpsLimiter, is_discontinuity, to_90k
from .ts_restarts import MuxerRestarts

log = logging.getLogger(__name__)

OPEN_OPTIONS = {"probesize": "32", "analyzeduration": "0", "fflags": "+noparse+nofillin"}
DEFAULT_FRAME_TICKS = 3000  # 1/30 s, until the stream shows its own frame interval


class StreamDecoder:
    def __init__(
        self,
        on_video: Callable[[VideoFrame], None],
        on_audio: Callable[[AudioFrame], None] | None = None,
        *,
        max_fps: float | None = None,
        on_error: Callable[[str], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        name: str = "decoder",
        threads: int = DECODER_THREADS,
        scaler_threads: int = SCALER_THREADS,
        max_buffer_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._on_video = on_video
        self._on_audio = on_audio
        self._on_error = on_error
        self._on_failed = on_failed
        self.failed: str | None = None  # why the decode thread ended early, if it did
        self._unsupported: set[str] = set()  # video codecs reported as not decodable
        self.name = name
        self._codecs = DecoderContexts(threads)
        self._pipe = BytePipe(max_buffer_bytes)
        self._restarts = MuxerRestarts()
        self._feed_lock = threading.Lock()
        self._limiter = FpsLimiter(max_fps) if max_fps else None
        self._rgb = Scaler(scaler_threads)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.stats = DecoderStats()
        # video state
        self._need_key = True
        self._resyncing = False
        self._last_pts: int | None = None
        self._frame_ticks = DEFAULT_FRAME_TICKS
        # audio state
        self._audio_next: int | None = None

    # -- control (any thread) ------------------------------------------------------------------

    def start(self) -> None:
        """Start the decode thread."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: already started")
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def feed(self, data: bytes) -> None:
        """Bytes of the input TS stream (any thread, never blocks)."""
        with self._feed_lock:
            self._write(self._restarts.feed(data))
            self.stats.muxer_restarts = self._restarts.restarts

    def _write(self, pieces: list[bytes | None]) -> None:
        for piece in pieces:
            if piece is None:  # a new TS muxer run begins: a segment boundary
                self._pipe.mark_boundary()
            else:
                self._pipe.write(piece)

    def end_segment(self) -> None:
        """The bytes fed so far end a complete input segment (any thread, never blocks).

        Optional: the next bytes begin a new MPEG-TS stream (PAT/PMT, keyframe), which may come
        from a new muxer (continuity counters, PIDs). The segment's last frame is decoded now
        instead of when the next PES begins. Call it only after a segment was read to its end.
        """
        with self._feed_lock:
            self._write(self._restarts.reset())
            self._pipe.mark_boundary()

    def end(self) -> None:
        """The input is finished: decode what is left, then the thread exits."""
        with self._feed_lock:
            self._write(self._restarts.reset())
            self._pipe.end()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to finish (after end()); True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop now (unread input is discarded) and join the thread. Idempotent."""
        self._stopping = True
        self._pipe.abort()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s: decode thread did not stop within %.1fs", self.name, timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- decode thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            last = (-1, -1)
            while not self._stopping and not self._pipe.exhausted:
                self._pipe.resume()
                if (self._pipe.bytes_read, self._pipe.boundaries_read) == last:
                    raise av.error.InvalidDataError(0, "input could not be opened")
                last = (self._pipe.bytes_read, self._pipe.boundaries_read)
                self._run_container()
            if not self._stopping:
                self._drain()
        except Exception as exc:  # task boundary: report, end the thread
            log.exception("%s: decode thread failed", self.name)
            self.failed = f"decoder stopped: {type(exc).__name__}: {exc}"
            self.stats.last_error = self.failed
            callback = self._on_failed or self._on_error
            if callback is not None:
                callback(self.failed)
        finally:
            self.stats.bytes_in = self._pipe.bytes_in
            self.stats.dropped_bytes = self._pipe.dropped_bytes
            log.debug("%s: decode thread done: %s", self.name, self.stats)

    def _run_container(self) -> None:
        """Demux until the input ends, or until the segment ends when segments are marked."""
        start = self._pipe.bytes_read
        try:
            container = av.open(self._pipe, mode="r", format="mpegts", options=OPEN_OPTIONS)
        except (av.error.FFmpegError, EOFError) as exc:
            if self._stopping or (self._pipe.exhausted and not self._pipe.at_boundary):
                return
            if not self._pipe.at_boundary:
                self._report(f"cannot open the input stream: {exc}")
            elif self._pipe.bytes_read > start:  # an empty segment is no error
                self._report(f"input segment without an MPEG-TS stream: {exc}")
            return
        with container:
            try:
                self._demux(container)
            except av.error.FFmpegError as exc:  # the demuxer gave up: reopen on what follows
                if not self._stopping:
                    self.stats.errors += 1
                    self._report(f"demuxer error, reopening the input: {exc}")
                    self._need_key = self._resyncing = True

    def _demux(self, container: Any) -> None:
        video: Any = None  # the video stream decoded: the first, or a newer one a new PMT adds
        contexts: dict[int, Any] = {}  # stream index -> decoder context (outlives the demuxer)
        for packet in _packets(container):
            if self._stopping:
                return
            self.stats.bytes_in = self._pipe.bytes_in
            self.stats.dropped_bytes = self._pipe.dropped_bytes
            stream = packet.stream
            if packet.size == 0:  # this demuxer's end; the contexts are drained at the input's end
                continue
            if stream.type == "video":
                if not self._supported(stream):
                    continue
                if video is None or (stream is not video and stream.index > video.index):
                    video = stream
                if stream is video:
                    self._video_packet(packet, self._context(contexts, stream))
            elif stream.type == "audio" and self._on_audio is not None:
                self._audio_packet(packet, self._context(contexts, stream))

    def _supported(self, stream: Any) -> bool:
        """``VIDEO`` is decoded; any other video codec is skipped, reported once per codec."""
        codec = str(stream.codec_context.name or "unknown")
        if codec == VIDEO.name:
            return True
        self.stats.skipped_packets += 1
        if codec not in self._unsupported:
            self._unsupported.add(codec)
            self.stats.errors += 1
            self._report(f"unsupported input video codec {codec!r}: only {VIDEO.label} is decoded")
        return False

    def _context(self, contexts: dict[int, Any], stream: Any) -> Any:
        ctx = contexts.get(stream.index)
        if ctx is None:
            ctx = contexts[stream.index] = self._codecs.get(stream)
            if stream.type == "audio":
                self.stats.has_audio = True
                self.stats.audio_codec = ctx.name
        return ctx

    def _drain(self) -> None:
        """End of input: take the frames the decoders still hold."""
        for ctx in self._codecs.held():
            if ctx.type == "video":
                self._decode_video(ctx, None)
            elif self._on_audio is not None:
                self._audio_frames(ctx, None)

    def _report(self, message: str) -> None:
        self.stats.last_error = message
        log.warning("%s: %s", self.name, message)
        if self._on_error is not None:
            self._on_error(message)

    # -- video ---------------------------------------------------------------------------------

    def _resync(self, reason: str) -> None:
        """Damaged input: skip to the next keyframe; report the incident once."""
        if not self._resyncing:
            self.stats.errors += 1
            self._report(f"{reason}; skipping to the next keyframe")
        self._need_key = True
        self._resyncing = True

    def _video_packet(self, packet: av.Packet, ctx: Any) -> None:
        if packet.is_corrupt:
            self._resync(f"damaged video packet (pts {packet.pts})")
            return
        if self._need_key:
            if not VIDEO.is_keyframe(bytes(packet)):
                self.stats.skipped_packets += 1
                return
            if self._resyncing:
                ctx.flush_buffers()
            elif self.stats.skipped_packets:
                log.info("%s: input started without a keyframe: skipped %d packets",
                         self.name, self.stats.skipped_packets)  # fmt: skip
            self._need_key = False
            self._resyncing = False
        self._decode_video(ctx, packet)

    def _decode_video(self, ctx: Any, packet: av.Packet | None) -> None:
        try:
            frames = ctx.decode(packet)
        except av.error.FFmpegError as exc:
            self._resync(f"video decode error: {exc}")
            return
        for frame in frames:
            if frame.is_corrupt:
                self._resync(f"decoder reported a damaged frame (pts {frame.pts})")
                return
            self._emit_video(frame)

    def _emit_video(self, frame: av.VideoFrame) -> None:
        self.stats.decoded += 1
        last = self._last_pts
        if frame.pts is None:
            pts = 0 if last is None else last + self._frame_ticks
        else:
            pts = to_90k(frame.pts, frame.time_base)
        discontinuity = is_discontinuity(last, pts)
        if discontinuity:
            self.stats.discontinuities += 1
            log.info("%s: timestamp discontinuity %s -> %d", self.name, last, pts)
        elif last is not None:
            self._frame_ticks = pts - last
        self._last_pts = pts
        if self._limiter is not None and not self._limiter.admit(pts):
            self.stats.dropped_fps += 1
            return
        self._note_size(frame.width, frame.height)
        image = self._rgb.reformat(frame, format="rgb24").to_ndarray()
        out = VideoFrame(image, pts, self.stats.decoded - 1, self._pipe.read_fed_at)
        if discontinuity:
            out.meta["discontinuity"] = True
        self.stats.frames += 1
        self._on_video(out)

    def _note_size(self, width: int, height: int) -> None:
        if width != self.stats.width or height != self.stats.height:
            if self.stats.width:
                self.stats.resolution_changes += 1
                log.info("%s: resolution %dx%d -> %dx%d", self.name,
                         self.stats.width, self.stats.height, width, height)  # fmt: skip
            self.stats.width, self.stats.height = width, height

    # -- audio ---------------------------------------------------------------------------------

    def _audio_packet(self, packet: av.Packet, ctx: Any) -> None:
        if packet.is_corrupt:
            self.stats.audio_errors += 1
            return
        self._audio_frames(ctx, packet)

    def _audio_frames(self, ctx: Any, packet: av.Packet | None) -> None:
        try:
            if packet is None:
                frames = ctx.decode(None)
            elif ctx.name == "opus":
                frames = self._decode_opus(ctx, packet)
            else:
                frames = ctx.decode(packet)
        except (av.error.FFmpegError, ValueError) as exc:
            self.stats.audio_errors += 1
            if self.stats.audio_errors == 1:
                self._report(f"audio decode error: {exc}")
            return
        for frame in frames:
            self._emit_audio(frame)

    def _decode_opus(self, ctx: Any, packet: av.Packet) -> list[av.AudioFrame]:
        frames: list[av.AudioFrame] = []
        for i, data in enumerate(split_opus_ts(bytes(packet))):
            part = av.Packet(data)
            if i == 0:
                part.pts = packet.pts
                part.time_base = packet.time_base
            frames.extend(ctx.decode(part))
        return frames

    def _emit_audio(self, frame: av.AudioFrame) -> None:
        expected = self._audio_next
        if frame.pts is None:
            pts = expected if expected is not None else (self._last_pts or 0)
        else:
            pts = to_90k(frame.pts, frame.time_base)
            if expected is not None and abs(pts - expected) < 90 and pts != expected:
                pts = expected  # keep sample-exact spacing within 1 ms of jitter
        self._audio_next = pts + frame.samples * 90_000 // max(1, frame.sample_rate)
        self.stats.audio_frames += 1
        assert self._on_audio is not None
        self._on_audio(AudioFrame(frame, pts))


def _packets(container: Any) -> Iterator[av.Packet]:
    """``container.demux()``, with PyAV's IndexError for a stream added after open (a new PMT
    with new PIDs inside one demuxer's input) turned into a demuxer error: reopen there."""
    packets = container.demux()
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except IndexError as exc:
            raise av.error.InvalidDataError(0, f"stream added after open: {exc}") from exc
        yield packet
