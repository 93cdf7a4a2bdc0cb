"""Generated test clips: MPEG-TS with H.264 (and optional AAC/Opus audio), no binary fixtures.

The picture is a moving colour gradient with the frame number written as a 16-bit barcode across
the top band, so a test (or the demo) can read back which input frame an output frame came from
even after lossy encoding (:func:`read_frame_number`). Clips are made with plain PyAV, independent
of the encoder under test, with keyframes every ``keyframe_seconds`` (and only there).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import ParamSpec

import av
import numpy as np

from .codecs import VIDEO, add_video_stream
from .segmenter import TsSegmenter
from .timing import CLOCK_HZ, TB_90K

BARCODE_BITS = 16
AUDIO_RATE = 48_000

P = ParamSpec("P")


def pattern_frame(index: int, width: int, height: int) -> np.ndarray:
    """The test picture for frame ``index``: uint8 RGB (H, W, 3), barcode of ``index`` on top."""
    x = np.arange(width, dtype=np.uint16)[None, :]
    y = np.arange(height, dtype=np.uint16)[:, None]
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[..., 0] = (x * 255 // max(1, width - 1) + (index * 4) % 256) % 256  # uint16-safe
    image[..., 1] = (y * 255 // max(1, height - 1) + (index * 2) % 256) % 256
    image[..., 2] = (index * 8) % 256
    band = _band_height(height)
    block = width // BARCODE_BITS
    if block >= 2:
        for bit in range(BARCODE_BITS):
            value = 255 if (index >> bit) & 1 else 0
            image[:band, bit * block : (bit + 1) * block] = value
    return image


def _band_height(height: int) -> int:
    return max(4, height // 8)


def read_frame_number(image: np.ndarray) -> int:
    """The frame number from a (decoded, lossy) :func:`pattern_frame` picture."""
    height, width = image.shape[:2]
    band = _band_height(height)
    block = width // BARCODE_BITS
    if block < 2:
        raise ValueError(
            f"width: expected >= {2 * BARCODE_BITS} to carry a barcode, received {width}"
        )
    number = 0
    for bit in range(BARCODE_BITS):
        margin = block // 4
        cell = image[1 : band - 1, bit * block + margin : (bit + 1) * block - margin]
        if float(cell.mean()) > 127.5:
            number |= 1 << bit
    return number


def make_test_clip(
    seconds: float = 2.0,
    width: int = 64,
    height: int = 64,
    fps: float = 30.0,
    audio: bool | str = False,
    *,
    keyframe_seconds: float = 1.0,
    start_pts: int = 90_000,
    first_index: int = 0,
    preset: str = "veryfast",
    pes_length: bool = False,
    mux_options: dict[str, str] | None = None,
) -> bytes:
    """An MPEG-TS clip: H.264 (yuv420p, no B-frames), pts on 90 kHz from ``start_pts``.

    ``start_pts`` defaults to 1 s: audio encoders prime with negative timestamps, and a clip that
    starts at 0 would be shifted by the muxer, so its video would not start at ``start_pts``.

    ``audio``: False, True or "aac" (AAC), or "opus" (Opus): a 440 Hz stereo tone at 48 kHz.
    ``pes_length``: write the video PES length (FFmpeg omits it by default), so a demuxer can
    hand on each frame as soon as its last byte is in, not when the next frame begins.
    ``mux_options``: further options for FFmpeg's mpegts muxer (e.g. ``mpegts_start_pid``).
    """
    out_buf = io.BytesIO()
    count = round(seconds * fps)
    options = {"omit_video_pes_length": "0"} if pes_length else {}
    options.update(mux_options or {})
    with av.open(out_buf, mode="w", format="mpegts", options=options) as container:
        video = add_video_stream(container, VIDEO, Fraction(fps).limit_denominator(1001))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        gop = max(1, round(keyframe_seconds * fps))
        video.codec_context.time_base = TB_90K
        video.codec_context.options = VIDEO.clip_options(preset, gop)
        tone = (
            _ToneWriter(container, "aac" if audio is True else audio, start_pts) if audio else None
        )
        for i in range(count):
            pts = start_pts + round(i * CLOCK_HZ / fps)
            frame = av.VideoFrame.from_ndarray(pattern_frame(first_index + i, width, height))
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = pts, TB_90K
            container.mux(video.encode(frame))
            if tone is not None:
                tone.write_until(pts + round(CLOCK_HZ / fps))
        container.mux(video.encode(None))
        if tone is not None:
            tone.flush()
    return out_buf.getvalue()


class _ToneWriter:
    """Writes a stereo sine tone in codec-sized frames, keeping pace with the video."""

    def __init__(self, container: av.container.OutputContainer, codec: str, start_pts: int) -> None:
        name = {"aac": "aac", "opus": "libopus"}.get(codec)
        if name is None:
            raise ValueError(f"audio: expected 'aac' or 'opus', received {codec!r}")
        stream = container.add_stream(name, rate=AUDIO_RATE, layout="stereo")
        assert isinstance(stream, av.AudioStream)
        self.stream = stream
        self.stream.format = "fltp" if name == "aac" else "s16"
        self.frame_size = 1024 if name == "aac" else 960
        self.container = container
        self.start = start_pts * AUDIO_RATE // CLOCK_HZ
        self.samples = 0

    def write_until(self, pts_90k: int) -> None:
        while (self.start + self.samples) * CLOCK_HZ < pts_90k * AUDIO_RATE:
            t = (np.arange(self.frame_size) + self.samples) / AUDIO_RATE
            wave = (np.sin(2 * np.pi * 440.0 * t) * 0.3).astype(np.float32)
            if self.stream.format.name == "s16":
                data = (np.repeat(wave, 2)[None, :] * 32767).astype(np.int16)
            else:
                data = np.stack([wave, wave])
            frame = av.AudioFrame.from_ndarray(
                data, format=self.stream.format.name, layout="stereo"
            )
            frame.sample_rate = AUDIO_RATE
            frame.pts, frame.time_base = self.start + self.samples, Fraction(1, AUDIO_RATE)
            self.container.mux(self.stream.encode(frame))
            self.samples += self.frame_size

    def flush(self) -> None:
        self.container.mux(self.stream.encode(None))


class _Collect:
    def __init__(self) -> None:
        self.segments: list[bytearray] = []

    def begin_segment(self) -> None:
        self.segments.append(bytearray())

    def write(self, data: bytes) -> None:
        self.segments[-1] += data

    def end_segment(self) -> None:
        pass


def split_segments(data: bytes) -> list[bytes]:
    """Cut a TS byte stream into trickle segments at its video keyframes (see ``segmenter``)."""
    sink = _Collect()
    segmenter = TsSegmenter(sink)
    segmenter.feed(data)
    segmenter.flush()
    return [bytes(s) for s in sink.segments]


def _segmented(make: Callable[P, bytes]) -> Callable[P, Iterator[bytes]]:
    def segments(*args: P.args, **kwargs: P.kwargs) -> Iterator[bytes]:
        """The trickle segments of a generated clip (one per keyframe interval): takes the
        arguments of :func:`make_test_clip`, which runs at the first ``next``."""
        yield from split_segments(make(*args, **kwargs))

    return segments


iter_segments = _segmented(make_test_clip)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in pieces of ``size`` bytes (the last may be shorter)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


class SegmentCollector:
    """A SegmentSink that keeps every segment and the order of calls (tests, demo, benchmarks)."""

    def __init__(self) -> None:
        self.segments: list[bytearray] = []
        self.events: list[str] = []
        self.open = False

    def begin_segment(self) -> None:
        self.segments.append(bytearray())
        self.events.append("begin")
        self.open = True

    def write(self, data: bytes) -> None:
        self.segments[-1] += data
        self.events.append("write")

    def end_segment(self) -> None:
        self.events.append("end")
        self.open = False

    def data(self) -> bytes:
        return b"".join(self.segments)


class DecodedClip:
    """What plain PyAV (default options, parsers on) finds in a TS byte stream."""

    def __init__(self, data: bytes) -> None:
        self.video: list[av.VideoFrame] = []
        self.audio_samples = 0
        self.audio_pts: list[int] = []
        with av.open(io.BytesIO(data), mode="r", format="mpegts") as container:
            self.codecs = [s.codec_context.name for s in container.streams]
            for packet in container.demux():
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame):
                        self.video.append(frame)
                    elif isinstance(frame, av.AudioFrame):
                        self.audio_samples += frame.samples
                        if frame.pts is not None:
                            self.audio_pts.append(frame.pts)

    @property
    def pts(self) -> list[int | None]:
        return [f.pts for f in self.video]

    def images(self) -> list[np.ndarray]:
        return [f.to_ndarray(format="rgb24") for f in self.video]

    def numbers(self) -> list[int]:
        return [read_frame_number(image) for image in self.images()]
