"""The floor: one stream's transcode written with PyAV's own API, none of ``trickle/media``.

What the media layer does for a passthrough stream, done the shortest way the library allows,
with the *same settings* (imported, so they cannot drift): the demuxer options
(``decoder.OPEN_OPTIONS``: no parsers, minimal probing), one demuxer per input segment and one
decoder context across them, the decoder's codec threads (``codecs.DECODER_THREADS``, slice
threads), YUV → RGB24 ndarray and back to YUV420P (one reused ``VideoReformatter`` each way, as
PyAV offers, with a stream's swscale threads), the codec's encoder with its options
(``codecs.VIDEO``) and a stream's codec threads (``threads.stream_threads``: given by the
caller, by default those of a runner serving several streams), an IDR forced every
``segment_seconds`` of pts, one MPEG-TS muxer with the same options (``ts_writer.MUXER_OPTIONS``),
and a new output segment begun right before each keyframe packet is muxed (the muxer writes its
tables there: the same cut as ``TsSegmenter``).

Not here, so whatever it costs in our media layer shows against this floor: the byte pipe with
its drop policy and muxer-restart scan, keyframe checks and resync, timestamp rules, frame
objects and stats, queues with drop policies, thread hand-overs (decode and encode run on one
thread here), and the TS segmenter's header parsing.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

from trickle.media.avcompat import reformat_thread_options
from trickle.media.codecs import (
    DECODER_THREAD_TYPE,
    DECODER_THREADS,
    ENCODER_THREADS,
    VIDEO,
    encoder_threads,
)
from trickle.media.decoder import OPEN_OPTIONS
from trickle.media.scaler import SCALER_THREADS
from trickle.media.segmenter import SegmentSink
from trickle.media.timing import CLOCK_HZ, TB_90K
from trickle.media.ts_writer import MUXER_OPTIONS

_SEGMENT_END = b""
_INPUT_END = None


class _SegmentReader:
    """File object for ``av.open``: one input segment's bytes as they arrive, EOF at its end."""

    def __init__(self, chunks: queue.SimpleQueue[bytes | None]) -> None:
        self._chunks = chunks
        self._rest = b""
        self.eof = False
        self.input_ended = False

    def read(self, n: int = -1) -> bytes:
        if not self._rest and not self.eof:
            chunk = self._chunks.get()
            if chunk is _INPUT_END:
                self.eof = self.input_ended = True
            elif chunk == _SEGMENT_END:
                self.eof = True
            else:
                self._rest = chunk
        data = self._rest if n < 0 else self._rest[:n]
        self._rest = self._rest[len(data) :]
        return data


class _SinkFile:
    """File object for the output muxer: its bytes to the sink, in the current segment."""

    def __init__(self, sink: SegmentSink) -> None:
        self.sink = sink
        self.in_segment = False

    def write(self, data: bytes) -> int:
        if not self.in_segment:
            self.sink.begin_segment()
            self.in_segment = True
        self.sink.write(bytes(data))
        return len(data)

    def end_segment(self) -> None:
        if self.in_segment:
            self.sink.end_segment()
            self.in_segment = False


class BareTranscode:
    """``feed`` / ``end_segment`` / ``end`` from any thread; one thread demuxes, decodes,
    converts, encodes and muxes (``on_frame`` is called there with each output frame's pts)."""

    def __init__(
        self,
        sink: SegmentSink,
        *,
        fps: float = 30.0,
        segment_seconds: float = 1.0,
        preset: str = "superfast",
        crf: int = 23,
        threads: int | None = ENCODER_THREADS,
        scaler_threads: int = SCALER_THREADS,
        on_frame: Callable[[int], None] | None = None,
    ) -> None:
        self._chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._out = _SinkFile(sink)
        self._fps, self._segment_ticks = fps, round(segment_seconds * CLOCK_HZ)
        self._preset, self._crf, self._threads = preset, crf, threads
        self._on_frame = on_frame
        self._to_rgb, self._to_yuv = VideoReformatter(), VideoReformatter()
        self._scale = reformat_thread_options(scaler_threads)
        self._dec: Any = None
        self._enc: Any = None
        self._muxer: Any = None
        self._stream: Any = None
        self._next_key: int | None = None
        self.frames = 0
        self._thread = threading.Thread(target=self._run, name="bare", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def feed(self, data: bytes) -> None:
        if data:
            self._chunks.put(data)

    def end_segment(self) -> None:
        self._chunks.put(_SEGMENT_END)

    def end(self) -> None:
        self._chunks.put(_INPUT_END)

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        ended = False
        while not ended:
            reader = _SegmentReader(self._chunks)
            try:
                container = av.open(reader, mode="r", format="mpegts", options=OPEN_OPTIONS)
            except (av.error.FFmpegError, EOFError):
                while not reader.eof:  # skip what is left of a segment that does not open
                    reader.read()
                ended = reader.input_ended
                continue
            with container:
                for packet in container.demux():
                    if packet.stream.type == "video" and packet.size:
                        self._decode(packet)
            while not reader.eof:
                reader.read()
            ended = reader.input_ended
        if self._dec is not None:
            self._decode(None)
        if self._enc is not None:
            self._mux(self._enc.encode(None))
        if self._muxer is not None:
            self._muxer.close()
        self._out.end_segment()

    def _decode(self, packet: Any) -> None:
        if self._dec is None:
            self._dec = av.CodecContext.create(packet.stream.codec_context.name, "r")
            self._dec.thread_count = DECODER_THREADS
            self._dec.thread_type = DECODER_THREAD_TYPE
        for frame in self._dec.decode(packet):
            self._encode(frame)

    def _encode(self, frame: av.VideoFrame) -> None:
        rgb = self._to_rgb.reformat(frame, format="rgb24", **self._scale).to_ndarray()
        picture = self._to_yuv.reformat(av.VideoFrame.from_ndarray(rgb, format="rgb24"),
                                        format="yuv420p", **self._scale)  # fmt: skip
        pts = int(frame.pts or 0)
        picture.pts, picture.time_base = pts, TB_90K
        if self._enc is None:
            self._open_encoder(picture.width, picture.height)
        if self._next_key is None or pts >= self._next_key:
            picture.pict_type = PictureType.I
            self._next_key = pts + self._segment_ticks
        self._mux(self._enc.encode(picture))
        self.frames += 1
        if self._on_frame is not None:
            self._on_frame(pts)

    def _open_encoder(self, width: int, height: int) -> None:
        enc = av.CodecContext.create(VIDEO.encoder, "w")
        assert isinstance(enc, av.VideoCodecContext)
        enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
        enc.time_base = TB_90K
        enc.framerate = Fraction(self._fps).limit_denominator(1001)
        threads = self._threads
        enc.thread_count = encoder_threads(width, height) if threads is None else threads
        enc.options = VIDEO.encoder_options(self._preset, self._crf)
        enc.open()
        self._enc = enc
        self._muxer = av.open(self._out, mode="w", format="mpegts", options=MUXER_OPTIONS)
        self._stream = self._muxer.add_mux_stream(VIDEO.name, rate=Fraction(self._fps))
        self._stream.time_base = TB_90K

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if packet.is_keyframe:
                self._out.end_segment()  # the muxer writes its tables, then the keyframe
            packet.stream = self._stream
            self._muxer.mux(packet)
