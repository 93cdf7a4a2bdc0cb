"""The video codec on the wire, in one place, and the decoder contexts that outlive the demuxer.

The codec seam: :data:`VIDEO` (H.264 today) is the only place that names the video codec. It
says what the decoder accepts (``name``), how a keyframe is recognised in an access unit
(``is_keyframe``, for resync after damage) and in the first TS packet of a PES
(``starts_keyframe``, for muxer restarts inside a segment), which encoder writes the output
(``encoder``) with which options (``encoder_options``: low latency, no codec-made keyframes, so
the only keyframes are the ones forced at each segment's start), and what the muxer stream is
(``name``; ``placeholder_options`` for PyAV < 17, see ``avcompat``).
Decoder (``decoder``), encoder (``video_out``), muxer (``ts_writer``, ``avcompat``), restart scan
(``ts_restarts``), file conversion (``remux``, ``fileclip``) and generated clips (``testclip``)
read it from here; a second codec is a second
:class:`VideoCodec` and a choice of which one :data:`VIDEO` is. The segmenter (``segmenter``)
needs nothing codec-specific: it cuts at the random-access indicator FFmpeg's muxer sets on a
keyframe of any video codec.

:class:`DecoderContexts`: the decoder may demux each input segment with its own demuxer (each
segment is a complete MPEG-TS stream, possibly from its own muxer run, with its own PIDs). The
codec contexts must not follow the demuxer: a new video decoder would lose its reference frames
and thread pool, and a new audio decoder its state. :class:`DecoderContexts` keeps one context
per stream kind and makes a new one only when the codec changes: its name, or for audio its
extradata (Opus channel setup). Video extradata is not compared: for H.264 in MPEG-TS it is only
the in-band SPS/PPS the demuxer happened to find, absent when the segment's first packet is
damaged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from .bitstream import h264_is_keyframe, h264_starts_keyframe

log = logging.getLogger(__name__)

DECODER_THREADS = 1  # codec threads of a video decoder (slice threads; 512² decodes in ~0.5 ms)
DECODER_THREAD_TYPE = "SLICE"  # no frame threads: they delay every frame by a frame per thread
ENCODER_THREADS: int | None = None  # codec threads of a video encoder (None: encoder_threads)
ONE_ENCODER_THREAD_MAX_PIXELS = 1280 * 720  # up to this size one codec thread keeps up


def encoder_threads(width: int, height: int) -> int:
    """Codec threads for a video encoder of this picture size when streams share the machine:
    1 up to 1280×720, above that 0 (the codec decides; x264 takes 1.5 per core).

    x264's own threads cost CPU to keep in step: on the 2-core CI box at 512×512 (superfast,
    zerolatency, RGB24 in) one thread takes 3.5 ms of CPU per frame against 4.2 ms with the
    codec's choice, in the same 3.5 ms of wall time; at 1280×720 12.8 against 14.1 ms of CPU, in
    12.7 ms of the 33 ms a 30 fps frame has. One thread per stream leaves the other cores to the
    other streams. At 1920×1080 one thread needs 29 ms of wall time per frame, too close to 33,
    so larger pictures get the codec's threads (``benchmarks/threads.py``)."""
    return 1 if width * height <= ONE_ENCODER_THREAD_MAX_PIXELS else 0


@dataclass(frozen=True)
class VideoCodec:
    """What the media layer needs to know about one video codec (see the module doc)."""

    name: str  # FFmpeg's codec name: accepted from the demuxer, given to the muxer stream
    label: str  # for people (error messages)
    encoder: str  # the FFmpeg encoder the output is written with
    is_keyframe: Callable[[bytes], bool]  # an access unit that starts a GOP (decode from here)
    starts_keyframe: Callable[[bytes], bool]  # the start of a PES payload looks like one
    encoder_options: Callable[[str, int], dict[str, str]]  # live output, from (preset, crf)
    clip_options: Callable[[str, int], dict[str, str]]  # a keyframe every n frames: (preset, n)
    placeholder_options: dict[str, str]  # the smallest encoder a PyAV < 17 muxer stream opens


def _x264_options(preset: str, crf: int) -> dict[str, str]:
    """libx264 for live output: no lookahead or frame delay (``zerolatency``), no B-frames, and
    no keyframes of its own (``keyint=infinite``, ``scenecut=0``): the encoder forces an IDR
    (``forced-idr``) where a segment must begin. SPS/PPS repeat before each IDR."""
    return {
        "preset": preset,
        "tune": "zerolatency",
        "forced-idr": "1",
        "crf": str(crf),
        "x264-params": "keyint=infinite:scenecut=0:bframes=0:open-gop=0",
    }


def _x264_clip_options(preset: str, gop: int) -> dict[str, str]:
    """libx264 for files and test clips: a keyframe every ``gop`` frames, no B-frames."""
    return {
        "preset": preset,
        "tune": "zerolatency",
        "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0",
    }


H264 = VideoCodec(
    name="h264",
    label="H.264",
    encoder="libx264",
    is_keyframe=h264_is_keyframe,
    starts_keyframe=h264_starts_keyframe,
    encoder_options=_x264_options,
    clip_options=_x264_clip_options,
    placeholder_options={"preset": "ultrafast", "threads": "1"},
)

VIDEO = H264  # the video codec of the trickle contract (MPEG-TS with H.264 video)


def add_video_stream(
    container: av.container.OutputContainer, codec: VideoCodec, rate: Fraction
) -> av.VideoStream:
    """A stream on ``container`` that encodes with ``codec``'s encoder (files, test clips)."""
    stream = container.add_stream(codec.encoder, rate=rate)
    assert isinstance(stream, av.VideoStream)
    return stream


class DecoderContexts:
    def __init__(self, threads: int = DECODER_THREADS) -> None:
        self._threads = threads
        self._contexts: dict[str, tuple[tuple[str, bytes], Any]] = {}

    def get(self, stream: Any) -> Any:
        """The decoder context for ``stream``'s kind (video/audio), made or re-made as needed."""
        kind = stream.type
        params = stream.codec_context
        extra = bytes(params.extradata or b"") if kind == "audio" else b""
        held = self._contexts.get(kind)
        if held is not None and not extra:
            extra = held[0][1]  # no extradata found this time: keep the setup known
        key = (params.name, extra)
        if held is not None and held[0] == key:
            return held[1]
        ctx = av.CodecContext.create(params.name, "r")
        if key[1]:
            ctx.extradata = key[1]
        if kind == "video":
            ctx.thread_count = self._threads
            ctx.thread_type = DECODER_THREAD_TYPE
        if held is not None:
            log.info("%s codec changed: %s -> %s", kind, held[0][0], key[0])
        self._contexts[kind] = (key, ctx)
        return ctx

    def held(self) -> list[Any]:
        """The contexts made so far (to drain them at the end of the input)."""
        return [ctx for _, ctx in self._contexts.values()]
