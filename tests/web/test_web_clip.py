"""The editor's test stream from an uploaded file or a webcam recording (no ComfyUI needed): the
file is transcoded to the test size and rate, streamed through the runner like the generated clip,
and bad uploads are refused with a message. The webcam path in the browser uploads its
MediaRecorder recording (WebM/VP8) to the same route, so a VP8 WebM with the irregular millisecond
timestamps of a recording stands in for it here."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from .panel_app import Panel, serve_panel, wait_for

GREY = 40  # the recording's flat picture: far from the generated clip's colours


def webcam_recording(seconds: float = 6.0, fps: int = 10) -> bytes:
    """A WebM/VP8 file like Chromium's MediaRecorder writes: ms time base, jittered timestamps."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        picture = np.full((120, 160, 3), GREY, np.uint8)
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = (
                round(i * 1000 / fps) + (7 if i % 3 else 0),
                Fraction(1, 1000),
            )
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


@pytest.fixture
async def panel(tmp_path: Path) -> AsyncIterator[Panel]:
    async with serve_panel(tmp_path) as served:
        yield served


async def frame_mean(panel: Panel, stream_id: str) -> float | None:
    status, data = await panel.call("GET", f"/trickle/streams/{stream_id}/frame.jpg")
    if status != 200:
        return None
    with av.open(io.BytesIO(data), format="image2pipe") as container:
        frame = next(container.decode(video=0))
        return float(frame.to_ndarray(format="rgb24").mean())


async def test_an_uploaded_recording_streams_through_the_runner(panel: Panel) -> None:
    status, body = await panel.call("POST", "/trickle/live-test", {"source": "upload"})
    assert status == 400 and "upload a clip first" in body["detail"]["msg"], body
    query = "?seconds=4&width=128&height=96&fps=12&name=webcam"
    status, clip = await panel.call(
        "POST", "/trickle/live-test/clip" + query, data=webcam_recording()
    )
    assert status == 200, clip
    # 10 fps for 4 s of output at 12 fps: every recorded frame lands in an interval of its own
    assert clip["size"] == [128, 96] and clip["fps"] == 12 and 38 <= clip["frames"] <= 41, clip
    assert clip["segments"] >= 3 and clip["name"] == "webcam"
    assert (await panel.call("GET", "/trickle/live-test/clip"))[1]["clip"] == clip
    start = {"source": "upload", "params": {"strength": 0}, "seconds": 30, "width": 384}
    status, started = await panel.call("POST", "/trickle/live-test", start)
    assert status == 200, started
    assert started["size"] == [128, 96] and started["fps"] == 12  # the clip's, not the body's
    sid = started["stream_id"]
    mean = await wait_for(lambda: frame_mean(panel, sid))
    assert abs(mean - GREY) < 12, mean  # the recording's picture, not the generated clip
    status, figures = await panel.call("POST", "/trickle/live-test/stop")
    assert status == 200 and not figures["running"] and figures["output_segments"] >= 1


async def test_bad_uploads_are_refused_with_a_message(panel: Panel) -> None:
    status, body = await panel.call("POST", "/trickle/live-test/clip", data=b"not a video" * 100)
    assert status == 400 and "not a readable video" in body["detail"]["msg"], body
    status, body = await panel.call("POST", "/trickle/live-test/clip", data=b"")
    assert status == 400 and "expected the bytes of a video file" in body["detail"]["msg"], body
    status, body = await panel.call("POST", "/trickle/live-test/clip?fps=0", data=b"x")
    assert status == 422 and "fps" in body["detail"]["msg"], body
    assert (await panel.call("GET", "/trickle/live-test/clip"))[1] == {"clip": None}
