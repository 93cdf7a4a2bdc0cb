"""Conformance cases 33–34 of reference ``trickle-protocol.md`` §9.7 (payload level): MPEG-TS
segments through the in-process server with our publisher and subscriber, checked with plain PyAV.

Case 34's Go half (mediacommon's ``mpegts.Reader`` and the gateway's WHEP server accepting the
tracks) needs go-livepeer and is not run here; what the gateway relies on is: H.264 + Opus tracks,
each segment one GOP starting with PAT/PMT and an IDR frame, 90 kHz timestamps continuing across
segments."""

from __future__ import annotations

import asyncio

from trickle_live.trickle.media.decoder import StreamDecoder
from trickle_live.trickle.media.encoder import StreamEncoder
from trickle_live.trickle.media.frames import AudioFrame, VideoFrame
from trickle_live.trickle.media.segmenter import PAT_PID, SDT_PID
from trickle_live.trickle.media.testclip import (
    DecodedClip,
    SegmentCollector,
    make_test_clip,
    split_segments,
)
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber

START, TICK = 90_000, 3000  # make_test_clip's first pts; 30 fps on the 90 kHz clock


def starts_with_tables(segment: bytes) -> bool:
    """A PAT within the first packets, before any other than SDT (ffmpeg writes SDT first)."""
    pids = [((segment[i + 1] & 0x1F) << 8) | segment[i + 2] for i in range(0, 188 * 3, 188)]
    return PAT_PID in pids and set(pids[: pids.index(PAT_PID)]) <= {SDT_PID}


async def relay(url: str, segments: list[bytes]) -> list[bytes]:
    """Publish each segment (in 7000-byte writes) while our subscriber reads them back; the
    publisher stays at most 2 segments ahead, so nothing leaves the 5-segment window unread."""
    got: list[bytes] = []

    async def read(sub: TrickleSubscriber) -> list[bytes]:
        for seq in range(len(segments)):
            seg = await sub.next_segment()
            assert seg is not None and seg.seq == seq
            assert seg.content_type == "video/mp2t"
            got.append(await seg.read_all())
        return got

    async with TrickleSubscriber(url, start_seq=0, first_byte_timeout=10) as sub:
        reading = asyncio.create_task(read(sub))
        async with TricklePublisher(url) as pub:
            for n, body in enumerate(segments):
                while len(got) < n - 2 and not reading.done():
                    await asyncio.sleep(0.01)
                writer = await pub.next_segment()
                for pos in range(0, len(body), 7000):
                    await writer.write(body[pos : pos + 7000])
                await writer.close()
            return await asyncio.wait_for(reading, 10)


async def test_33_concatenable_segments(base, server):
    segments = split_segments(make_test_clip(2.5, 64, 64, 30, keyframe_seconds=0.5))
    assert len(segments) == 5
    got = await relay(base + "ch", segments)
    assert got == segments  # byte-exact through the server
    for body in got:  # each: PAT/PMT first, starts on a keyframe, decodes alone
        assert starts_with_tables(body) and len(body) % 188 == 0
        assert DecodedClip(body).video[0].key_frame
    whole = DecodedClip(b"".join(got))  # the concatenation is one stream
    assert whole.pts == [START + TICK * i for i in range(75)]  # no timestamp discontinuity
    assert whole.numbers() == list(range(75))


def runner_output(seconds: float, segment_seconds: float) -> tuple[list[bytes], list[int]]:
    """Our encoder's segments (H.264 + Opus) for a decoded clip with AAC audio, and its pts."""
    video: list[VideoFrame] = []
    audio: list[AudioFrame] = []
    decoder = StreamDecoder(video.append, audio.append)
    decoder.start()
    decoder.feed(make_test_clip(seconds, 64, 64, 30, audio="aac"))
    decoder.end()
    assert decoder.wait(20)
    sink = SegmentCollector()
    encoder = StreamEncoder(
        sink, segment_seconds=segment_seconds, audio=True, queue_size=1000, threads=1
    )
    encoder.start()
    pending = list(audio)
    for frame in video:
        while pending and pending[0].pts <= frame.pts:
            encoder.put_audio(pending.pop(0))
        encoder.put_video(frame)
    encoder.close(timeout=20)
    return [bytes(s) for s in sink.segments], [f.pts for f in video]


async def test_34_runner_output_is_what_the_gateway_accepts(base, server):
    segments, input_pts = await asyncio.to_thread(runner_output, 4.5, 2.0)
    assert len(segments) == 3  # a ~2 s GOP per segment (ai-runner's GOP_SECS), here 2 + 2 + 0.5
    got = await relay(base + "ch", segments)
    assert got == segments
    for n, body in enumerate(got):
        alone = DecodedClip(body)
        assert starts_with_tables(body)
        assert alone.codecs == ["h264", "opus"]  # the only tracks WHEP accepts
        assert alone.video[0].key_frame and sum(f.key_frame for f in alone.video) == 1
        assert len(alone.video) == (60 if n < 2 else 15)
        assert alone.audio_samples > 0
    whole = DecodedClip(b"".join(got))
    assert whole.pts == input_pts  # output pts = input pts, continuous across segments
    assert whole.audio_pts == sorted(whole.audio_pts)
