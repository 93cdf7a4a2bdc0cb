"""Any video file (an upload, a browser's webcam recording) as a test clip: MPEG-TS, H.264.

The editor's test stream publishes it exactly like a generated clip (:mod:`.testclip`): the
picture is scaled to ``width`` x ``height``, frames are taken at ``fps`` from the file's own
timestamps (a variable-rate webcam recording becomes a steady stream), pts on 90 kHz from 1 s, a
keyframe every second, so :func:`.testclip.split_segments` cuts one-second trickle segments.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av

from ..errors import MediaError
from .codecs import VIDEO, add_video_stream
from .scaler import Scaler
from .timing import CLOCK_HZ, TB_90K

START_PTS = 90_000


def file_to_test_clip(
    path: str | Path, seconds: float, width: int, height: int, fps: int
) -> tuple[bytes, int]:
    """``(TS bytes, frame count)`` of at most ``seconds`` of the file's first video stream.

    Raises :class:`MediaError` naming the file when it cannot be read or has no video frame."""
    out = io.BytesIO()
    try:
        with av.open(str(path), mode="r") as source:
            if not source.streams.video:
                raise MediaError(f"{Path(path).name}: no video stream")
            stream = source.streams.video[0]
            stream.thread_type = "AUTO"
            with av.open(out, mode="w", format="mpegts") as target:
                count = _encode(source, stream, target, seconds, width, height, fps)
    except av.error.FFmpegError as exc:
        raise MediaError(f"{Path(path).name}: not a readable video ({exc})") from exc
    if count == 0:
        raise MediaError(f"{Path(path).name}: no decodable video frame")
    return out.getvalue(), count


def _encode(
    source: av.container.InputContainer,
    stream: av.VideoStream,
    target: av.container.OutputContainer,
    seconds: float,
    width: int,
    height: int,
    fps: int,
) -> int:
    video = add_video_stream(target, VIDEO, Fraction(fps))
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.codec_context.time_base = TB_90K
    video.codec_context.options = VIDEO.clip_options("ultrafast", fps)
    limit = max(1, round(seconds * fps))
    first: float | None = None
    count = next_index = 0
    scaler = Scaler()
    for position, frame in enumerate(source.decode(stream)):
        at = float(frame.time) if frame.time is not None else position / fps
        first = at if first is None else first
        index = int((at - first) * fps + 1e-6)  # the output frame this source frame falls on
        if index < next_index:
            continue  # faster than fps: keep the first frame of each output interval
        if index >= limit:
            break
        image = scaler.reformat(frame, width=width, height=height, format="yuv420p")
        image.pts, image.time_base = START_PTS + round(index * CLOCK_HZ / fps), TB_90K
        target.mux(video.encode(image))
        count, next_index = count + 1, index + 1
    target.mux(video.encode(None))
    return count
