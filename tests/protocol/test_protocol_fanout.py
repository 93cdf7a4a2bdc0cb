"""Server fan-out (issue #2): one segment goes to many subscribers while its POST is still
arriving; each gets every byte once, in order, live; a late joiner gets what is buffered, then
live data."""

from __future__ import annotations

import asyncio

from trickle_live.trickle.protocol.subscriber import TrickleSubscriber

READERS = 12


async def test_one_segment_fans_out_live_to_many_subscribers(base, server, raw, path):
    subs = [TrickleSubscriber(base + "ch", start_seq=0) for _ in range(READERS)]
    try:
        starts = [asyncio.create_task(s.next_segment()) for s in subs]
        await asyncio.sleep(0.1)
        pub = await raw()
        await pub.send_head("POST", path("ch/0"))
        await pub.send_chunk(b"first;")
        segments = await asyncio.wait_for(asyncio.gather(*starts), 5)
        assert all(seg is not None and seg.seq == 0 for seg in segments)
        streams = [seg.chunks() for seg in segments if seg is not None]
        # every reader has the first piece while the POST is still open
        firsts = await asyncio.wait_for(asyncio.gather(*(s.__anext__() for s in streams)), 5)
        assert firsts == [b"first;"] * READERS
        late = TrickleSubscriber(base + "ch", start_seq=0)  # joins mid-segment
        subs.append(late)
        for i in range(20):
            await pub.send_chunk(f"piece{i};".encode())
        late_seg = await asyncio.wait_for(late.next_segment(), 5)
        assert late_seg is not None
        late_reading = asyncio.create_task(late_seg.read_all())
        await pub.send_chunk(b"last")
        await pub.end_body()
        assert (await pub.read_response()).status == 200

        async def rest(stream) -> bytes:  # type: ignore[no-untyped-def]
            return b"".join([c async for c in stream])

        bodies = await asyncio.wait_for(asyncio.gather(*(rest(s) for s in streams)), 5)
        whole = b"first;" + b"".join(f"piece{i};".encode() for i in range(20)) + b"last"
        assert [b"first;" + b for b in bodies] == [whole] * READERS
        assert await asyncio.wait_for(late_reading, 5) == whole
    finally:
        for sub in subs:
            await sub.close()
