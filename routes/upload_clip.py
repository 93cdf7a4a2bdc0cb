"""An uploaded clip for the editor's test stream: a video file, or the browser's webcam recording.

| method | path | does |
| --- | --- | --- |
| POST | /trickle/live-test/clip?seconds=&width=&height=&fps= | body: the file's bytes (any container PyAV reads: mp4, webm, mkv, ts, ...); transcoded to the test-stream size and rate; answers ``{"name", "frames", "segments", "seconds", "size", "fps"}`` |
| GET | /trickle/live-test/clip | the uploaded clip's figures (``{"clip": null}`` when none) |

``POST /trickle/live-test`` with ``"source": "upload"`` then streams it through the same path as
an orchestrator's stream. One clip is kept (the last upload) in memory; the upload itself goes to a
temporary file that is removed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..trickle.errors import MediaError
from ..trickle.media.fileclip import file_to_test_clip
from ..trickle.media.testclip import split_segments
from ..trickle.runner.http import ApiError, Handler, guarded, json_ok

MAX_UPLOAD = 64 << 20
LIMITS = {"seconds": (1, 120, 30), "width": (64, 1920, 384), "height": (64, 1080, 256)}
LIMITS["fps"] = (1, 60, 24)


@dataclass
class Clip:
    name: str
    segments: list[bytes]
    frames: int
    size: tuple[int, int]
    fps: int

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "frames": self.frames,
            "segments": len(self.segments),
            "seconds": round(self.frames / self.fps, 2),
            "size": list(self.size),
            "fps": self.fps,
        }


def _query_int(request: web.Request, key: str) -> int:
    low, high, default = LIMITS[key]
    text = request.query.get(key)
    try:
        value = default if text is None else int(text)
    except ValueError:
        raise ApiError(
            422, f"{key}: expected an integer in [{low}, {high}]", received=text
        ) from None
    if not low <= value <= high:
        raise ApiError(422, f"{key}: expected an integer in [{low}, {high}]", received=value)
    return value


async def _save_body(request: web.Request, target: Any) -> int:
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_UPLOAD:
            raise ApiError(400, f"clip: expected at most {MAX_UPLOAD >> 20} MiB", received=size)
        target.write(chunk)
    if size == 0:
        raise ApiError(400, "clip: expected the bytes of a video file in the body", received=0)
    return size


class ClipRoutes:
    def __init__(self) -> None:
        self.clip: Clip | None = None

    async def upload(self, request: web.Request) -> web.Response:
        seconds, fps = _query_int(request, "seconds"), _query_int(request, "fps")
        width = _query_int(request, "width") // 2 * 2
        height = _query_int(request, "height") // 2 * 2
        name = (request.query.get("name") or "upload")[:120]
        fd, path = tempfile.mkstemp(prefix="trickle-clip-")
        try:
            with os.fdopen(fd, "wb") as file:
                await _save_body(request, file)
            loop = asyncio.get_running_loop()
            data, frames = await loop.run_in_executor(
                None, file_to_test_clip, path, seconds, width, height, fps
            )
        except MediaError as exc:
            raise ApiError(400, f"clip {name}: {exc}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self.clip = Clip(name, split_segments(data), frames, (width, height), fps)
        return json_ok(self.clip.info())

    async def status(self, request: web.Request) -> web.Response:
        return json_ok({"clip": self.clip.info() if self.clip else None})

    def specs(self, prefix: str = "/trickle") -> list[tuple[str, str, Handler]]:
        return [
            ("POST", f"{prefix}/live-test/clip", guarded(self.upload)),
            ("GET", f"{prefix}/live-test/clip", guarded(self.status)),
        ]
