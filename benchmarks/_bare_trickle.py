"""Child process of compare.py: the floor fed through trickle, like the systems under test.

Answers ``GET /health`` and ``POST /live-video-to-video`` as a runner does, and for each stream
does nothing but the bare transcode between the channels: trickle subscribe → PyAV alone
(``_bare.BareTranscode``: demux, decode, RGB and back, encode, mux with the media layer's
settings, none of its code) → trickle publish (``OutputChannel``). No session, no processor, no
queues with a drop policy, no control or events channel. So it pays the same trickle I/O and
HTTP as trickle-live and pytrickle and is measured by the same harness; what our media layer,
session and ComfyUI add shows against it. Any number of streams at once (one thread each).

Usage: _bare_trickle.py PORT
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _bare import BareTranscode  # noqa: E402

from trickle.config import RunnerConfig  # noqa: E402
from trickle.errors import ChannelClosed, ChannelNotFound  # noqa: E402
from trickle.media.threads import stream_threads  # noqa: E402
from trickle.protocol.subscriber import TrickleSubscriber  # noqa: E402
from trickle.session.output import OutputChannel  # noqa: E402
from trickle.session.stats import StreamStats  # noqa: E402

log = logging.getLogger("bare-trickle")


async def transcode(subscribe_url: str, publish_url: str) -> None:
    output = OutputChannel(publish_url, asyncio.get_running_loop(), StreamStats())
    output.start()
    # the session's codec settings, PyAV's own calls; its threads as a session's on a runner of
    # the same capacity (TRICKLE_CAPACITY, which the systems beside it read too)
    threads = stream_threads(RunnerConfig.from_env().capacity)
    bare = BareTranscode(output, threads=threads.encoder, scaler_threads=threads.scaler)
    bare.start()
    sub = TrickleSubscriber(subscribe_url, start_seq=-2)
    try:
        while True:
            try:
                segment = await sub.next_segment()
            except (ChannelNotFound, ChannelClosed):
                segment = None
            if segment is None:
                break
            async for chunk in segment.chunks():
                bare.feed(chunk)
            if segment.complete:
                bare.end_segment()
    finally:
        await sub.close()
        bare.end()  # transcode what is left, then the thread exits
        await asyncio.to_thread(bare.wait, 10)
        await output.close()


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    streams: set[asyncio.Task[None]] = set()

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "OK" if streams else "IDLE"})

    async def start(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        task = asyncio.create_task(transcode(body["subscribe_url"], body["publish_url"]))
        streams.add(task)
        task.add_done_callback(streams.discard)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/live-video-to-video", start)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
