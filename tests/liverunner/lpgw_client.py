"""livepeer-gateway 1.0.0 as an independent live-runner client, run with ``.venv-lpgw``'s Python 3.12.

Not a test module (pytest does not collect it): ``test_liverunner_interop.py`` runs it as a
subprocess against the orchestrator emulator. It does what an SDK user does: ``reserve_session``
through ``/discovery``, ``post_json(app_url + "/start")``, ``MediaPublish`` frames into ``in``,
``MediaOutput`` frames out of ``out``, an update on the ``control`` channel and one through
``POST update``, events through ``ChannelReader``, ``POST stop`` and ``stop_runner_session``.
It prints one JSON object with what it saw; the test judges it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from fractions import Fraction
from typing import Any

import av
import numpy as np
from livepeer_gateway import (
    ChannelReader,
    Control,
    LivepeerHTTPError,
    MediaOutput,
    MediaPublish,
    MediaPublishConfig,
    VideoOutputConfig,
    reserve_session,
    stop_runner_session,
)
from livepeer_gateway.http import post_json

FPS = 30


def level(index: int) -> int:
    return 30 + (index * 5) % 180


async def read_frames(url: str, want: int, got: list[tuple[int, float]]) -> None:
    output = MediaOutput(url, start_seq=0)
    try:
        async for item in output.frames():
            if item.kind != "video":
                continue
            image = item.frame.to_ndarray(format="rgb24")
            got.append((int(item.frame.pts), float(image.mean())))
            if len(got) >= want:
                break
    finally:
        await output.close(wait_callbacks=False, timeout=2.0)


async def read_events(url: str, events: list[dict[str, Any]]) -> None:
    async for event in ChannelReader(url)(start_seq=0):
        events.append(event)


async def publish(url: str, frames: int, size: int, control: Control, switch_at: int) -> None:
    config = MediaPublishConfig(tracks=[VideoOutputConfig(fps=FPS, keyframe_interval_s=0.5)])
    publisher = MediaPublish(url, config=config)
    try:
        for index in range(frames):
            image = np.full((size, size, 3), level(index), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            await publisher.write_frame(frame)
            if index == switch_at:
                await control.write({"strength": 0.0})  # lv2v-style update on the control channel
            await asyncio.sleep(1 / FPS)
    finally:
        await publisher.close()


async def run(orchestrator: str, app: str, frames: int, size: int) -> dict[str, Any]:
    session = await reserve_session(orchestrators=[orchestrator], app=app)
    reply = await post_json(
        session.app_url + "/start", {"params": {"strength": 1.0}, "width": size}
    )
    update = await post_json(session.app_url + "/update", {"strength": 1.0})
    got: list[tuple[int, float]] = []
    events: list[dict[str, Any]] = []
    control = Control(reply["control_url"])
    reader = asyncio.create_task(read_frames(reply["subscribe_url"], frames - 15, got))
    event_task = asyncio.create_task(read_events(reply["events_url"], events))
    await publish(reply["publish_url"], frames, size, control, frames // 2)
    try:
        await asyncio.wait_for(reader, 20)
    except TimeoutError:
        pass
    stop = await post_json(session.app_url + "/stop", {})
    try:  # the runner already released the session: the orchestrator answers 404, as go does
        await stop_runner_session(session)
        client_stop = 204
    except LivepeerHTTPError as exc:
        client_stop = exc.status_code
    await control.close()
    event_task.cancel()
    await asyncio.gather(event_task, return_exceptions=True)
    return {
        "session_id": session.session_id,
        "reply": reply,
        "update": update,
        "stop": stop,
        "client_stop": client_stop,
        "frames": got,
        "sent_levels": [level(i) for i in range(frames)],
        "events": [e.get("event", e).get("type") for e in events if isinstance(e, dict)],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orchestrator", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    result = asyncio.run(run(args.orchestrator, args.app, args.frames, args.size))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
