"""The server's base path is configurable (go-livepeer mounts trickle at ``/ai/trickle/``)."""

from __future__ import annotations

import aiohttp
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.server import TrickleServer
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber


async def test_base_path_ai_trickle():
    srv = TrickleServer("ai/trickle")  # normalised to /ai/trickle/
    url = await srv.serve()
    try:
        assert url.endswith("/ai/trickle/") and srv.base_path == "/ai/trickle/"
        srv.create_channel("abcd1234")
        root = url.removesuffix("ai/trickle/")
        async with TricklePublisher(url + "abcd1234") as pub, aiohttp.ClientSession() as http:
            await pub.write_segment(b"under the base path")
            async with TrickleSubscriber(url + "abcd1234", start_seq=-2) as sub:
                seg = await sub.next_segment()
                assert seg is not None and await seg.read_all() == b"under the base path"
            async with http.get(url + "abcd1234/next") as resp:
                assert (resp.status, await resp.text()) == (200, "1")  # seq 0 written
            async with http.get(root + "abcd1234/next") as resp:  # nothing outside the base path
                assert resp.status == 404
    finally:
        await srv.close()
