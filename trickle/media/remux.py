"""Container changes for the demo: any video file → MPEG-TS in the wire's video codec
(``codecs.VIDEO``, H.264), MPEG-TS → MP4, segment times.

Video is copied when it already is in that codec and re-encoded (``VIDEO.clip_options``: no
B-frames, a keyframe every second) otherwise; audio is dropped (the demo is about video).
Timestamps are kept.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av

from ..errors import MediaError
from .codecs import VIDEO, add_video_stream
from .scaler import Scaler
from .timing import TB_90K


def file_to_ts(path: str | Path, max_seconds: float | None = None) -> bytes:
    """The video of ``path`` as one MPEG-TS byte stream in ``VIDEO`` (at most ``max_seconds``)."""
    try:
        source = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot open {path}: {exc}") from exc
    out = io.BytesIO()
    with source, av.open(out, mode="w", format="mpegts") as target:
        if not source.streams.video:
            raise MediaError(f"{path}: no video stream")
        stream = source.streams.video[0]
        if stream.codec_context.name == VIDEO.name:
            _copy(source, target, stream, max_seconds)
        else:
            _transcode(source, target, stream, max_seconds)
    return out.getvalue()


def _copy(
    source: av.container.InputContainer,
    target: av.container.OutputContainer,
    stream: av.VideoStream,
    max_seconds: float | None,
) -> None:
    out_stream = target.add_stream_from_template(stream)
    for packet in source.demux(stream):
        if packet.dts is None:
            continue
        if _past(packet.pts, stream.time_base, max_seconds):
            break
        packet.stream = out_stream
        target.mux(packet)


def _transcode(
    source: av.container.InputContainer,
    target: av.container.OutputContainer,
    stream: av.VideoStream,
    max_seconds: float | None,
) -> None:
    rate = stream.average_rate or Fraction(30)
    encoder = add_video_stream(target, VIDEO, rate)
    encoder.width, encoder.height = (
        stream.codec_context.width // 2 * 2,
        stream.codec_context.height // 2 * 2,
    )
    encoder.pix_fmt = "yuv420p"
    encoder.codec_context.time_base = TB_90K
    gop = max(1, round(float(rate)))
    encoder.codec_context.options = VIDEO.clip_options("veryfast", gop)
    scaler = Scaler()
    for frame in source.decode(stream):
        if frame.pts is None:
            continue
        if _past(frame.pts, stream.time_base, max_seconds):
            break
        seconds = float(frame.pts * (stream.time_base or TB_90K))
        image = scaler.reformat(frame, width=encoder.width, height=encoder.height, format="yuv420p")
        image.pts, image.time_base = round(seconds * 90_000), TB_90K
        target.mux(encoder.encode(image))
    target.mux(encoder.encode(None))


def _past(pts: int | None, time_base: Fraction | None, max_seconds: float | None) -> bool:
    if max_seconds is None or pts is None or time_base is None:
        return False
    return float(pts * time_base) > max_seconds


def ts_to_mp4(data: bytes, path: str | Path) -> int:
    """Write the video of a TS byte stream to an MP4 file (copied, not re-encoded); frame count."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with (
        av.open(io.BytesIO(data), mode="r", format="mpegts") as source,
        av.open(str(path), mode="w") as target,
    ):
        if not source.streams.video:
            raise MediaError("no video in the output")
        stream = source.streams.video[0]
        out_stream = target.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            target.mux(packet)
            count += 1
    return count


def segment_start(segment: bytes) -> float | None:
    """The first video pts of a TS segment, in seconds (demux only, no decoding)."""
    with av.open(io.BytesIO(segment), mode="r", format="mpegts") as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.pts is not None and stream.time_base is not None:
                return float(packet.pts * stream.time_base)
    return None


def segment_durations(segments: list[bytes], fallback: float = 1.0) -> list[float]:
    """Seconds each segment covers (from the start of the next one); the last gets the mean."""
    starts = [segment_start(s) for s in segments]
    durations: list[float] = []
    for here, after in zip(starts, starts[1:], strict=False):
        durations.append(
            after - here if here is not None and after is not None and after > here else fallback
        )
    mean = sum(durations) / len(durations) if durations else fallback
    durations.append(mean)
    return durations


def count_video_frames(data: bytes) -> int:
    """Video packets (= frames: no B-frame reordering matters for a count) in a TS byte stream."""
    if not data:
        return 0
    with av.open(io.BytesIO(data), mode="r", format="mpegts") as container:
        if not container.streams.video:
            return 0
        return len([p for p in container.demux(container.streams.video[0]) if p.size])
