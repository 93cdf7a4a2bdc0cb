"""Start parameters users were told to send (pytrickle quickstart, ComfyStream BYOC):
``width``/``height`` (scale to cover + centre crop), ``max_framerate`` or ``fps`` (a cap before the
workflow), with clear errors for bad values on every start route."""

from __future__ import annotations

from typing import Any

import aiohttp
import numpy as np
import pytest
from compat_kit import post, stream_through
from runner_streamkit import FPS
from trickle_live.trickle.media.resize import FrameShaper, cover_size, target_size
from trickle_live.trickle.session.shape import parse_shape


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"width": 96, "height": 48}, (96, 48)),  # wider than the 64x64 input: crop top/bottom
        ({"width": 32}, (32, 32)),  # one side: the aspect ratio is kept
        ({"height": "128"}, (128, 128)),  # a numeric string (query-string params) is a number
    ],
)
async def test_width_and_height_shape_every_frame(
    make_runner: Any, orchestrator: Any, params: dict[str, Any], size: tuple[int, int]
) -> None:
    runner = await make_runner()
    out = await stream_through(runner, orchestrator, params)
    assert len(out.sizes) >= 0.9 * 2 * FPS, f"{len(out.sizes)} frames came out"
    assert set(out.sizes) == {size}
    assert out.snapshot["shape"]["width"] == (size[0] if "width" in params else None)


async def test_top_level_width_height_like_pytrickle(make_runner: Any, orchestrator: Any) -> None:
    """pytrickle users put the size beside the URLs; it means the same as in params."""
    runner = await make_runner()
    channels = orchestrator.create_channels()
    body = {**channels.start_body(None, "top-level", "comfystream"), "width": 48, "height": 32}
    async with orchestrator.http.post(runner.url + "/live-video-to-video", json=body) as resp:
        assert resp.status == 200
    session = runner.api.manager.get("top-level")
    assert session.request.params == {"width": 48, "height": 32}
    assert session.shape.width == 48 and session.shape.height == 32
    await runner.api.manager.stop("top-level")


@pytest.mark.parametrize(("key", "cap"), [("max_framerate", 5), ("fps", 7.5)])
async def test_frame_rate_cap(make_runner: Any, orchestrator: Any, key: str, cap: float) -> None:
    runner = await make_runner()
    out = await stream_through(runner, orchestrator, {key: cap}, seconds=3.0)
    expected = 3.0 * cap
    assert expected - 2 <= len(out.pts) <= expected + 1, (len(out.pts), out.pts)
    gaps = np.diff(out.pts)
    assert gaps.min() >= 0.9 * 90_000 / cap, gaps.tolist()
    assert out.snapshot["fps_capped"] >= 3 * FPS - expected - 2
    assert out.snapshot["frames_in"] == len(out.pts)  # dropped before the workflow saw them


START = {
    "subscribe_url": "http://127.0.0.1:9/ai/trickle/x",
    "publish_url": "http://127.0.0.1:9/ai/trickle/x-out",
}
BAD = [
    ("width", -4),
    ("width", 513),  # odd: H.264 4:2:0 needs even sizes
    ("width", 8),
    ("width", "wide"),
    ("height", True),
    ("height", 1.5),
    ("max_framerate", 0),
    ("fps", 1000),
    ("max_framerate", [30]),
]


@pytest.mark.parametrize("path", ["/live-video-to-video", "/stream/start", "/api/stream/start"])
@pytest.mark.parametrize(("key", "value"), BAD)
async def test_bad_values_are_refused_naming_the_field(
    make_runner: Any, http: aiohttp.ClientSession, path: str, key: str, value: Any
) -> None:
    runner = await make_runner()
    status, body = await post(http, runner.url + path, {**START, "params": {key: value}})
    assert status == 400, body
    detail = body["detail"]
    assert detail["field"] == f"params.{key}" and detail["received"] == value
    assert detail["expected"] and f"params.{key}" in detail["msg"]
    assert runner.api.manager.health() == "IDLE" and not runner.api.manager.list()


def test_parse_shape_accepts_and_prefers_max_framerate() -> None:
    shape = parse_shape({"width": 512.0, "height": "288", "max_framerate": 24, "fps": 30})
    assert (shape.width, shape.height, shape.max_fps) == (512, 288, 24.0)
    assert parse_shape({"prompt": "a cat"}).as_dict() == {
        "width": None,
        "height": None,
        "max_framerate": None,
    }


def test_shaper_scales_to_cover_and_crops_the_centre() -> None:
    assert target_size(640, 480, 320, None) == (320, 240)
    assert target_size(640, 480, None, 240) == (320, 240)
    assert cover_size(640, 480, 480, 480) == (640, 480)
    ramp = np.tile(np.linspace(0, 255, 640, dtype=np.float32)[None, :, None], (480, 1, 3))
    image = ramp.astype(np.uint8)
    out = FrameShaper(480, 480).shape(image)
    assert out.shape == (480, 480, 3) and out.flags.c_contiguous
    # 80 columns cut on each side: the first column shows what column 80 showed.
    assert abs(int(out[240, 0, 0]) - int(image[240, 80, 0])) <= 2
    assert abs(int(out[240, -1, 0]) - int(image[240, 559, 0])) <= 2
    small = FrameShaper(320, 120).shape(image)  # wider aspect: rows cut top and bottom
    assert small.shape == (120, 320, 3)
    assert abs(int(small[60, 160, 0]) - int(image[240, 320, 0])) <= 3
    same = FrameShaper(640, 480)
    assert same.shape(image) is image
