"""The benchmark's gateway side: publish one generated clip frame by frame on a trickle channel,
record what comes back on the output channel, and turn both into per-frame figures.

Definitions (identical for every system fed through trickle):
- *input available* of frame n: the moment the publisher's write of the bytes that end frame n's
  video PES returned (loopback: the server holds them from then on);
- *output published* of frame n: the moment the output subscriber received the chunk holding the
  first byte of the output access unit whose picture carries frame number n (the barcode drawn by
  ``testclip.pattern_frame``, read after decoding, so no system's pts handling matters);
- *added latency* = output published − input available;
- *throughput* = output frames of the measured part / (its last output − its first input byte),
  the input fed as fast as the system takes it: frame n is published once the system's newest
  output frame is n − lead or later (the trickle server keeps only a few segments: an open-loop
  burst would be thrown away by the transport before a slower reader sees it).
"""

from __future__ import annotations

import asyncio
import bisect
import io
import time
from dataclasses import dataclass, field

import av
from transcode import frame_chunks

from trickle.media.testclip import read_frame_number, split_segments
from trickle.protocol.http import make_client_session
from trickle.protocol.publisher import SegmentWriter, TricklePublisher
from trickle.protocol.subscriber import TrickleSubscriber


@dataclass
class ClipLayout:
    """A clip as (frame chunk, starts a new segment) pieces: chunk n ends with frame n's PES."""

    pieces: list[list[tuple[bytes, bool]]]  # per frame: its bytes, cut at segment starts

    @classmethod
    def of(cls, clip: bytes) -> ClipLayout:
        seg_starts, pos = [], 0
        for seg in split_segments(clip):
            seg_starts.append(pos)
            pos += len(seg)
        starts = set(seg_starts)
        pieces, offset = [], 0
        for chunk in frame_chunks(clip):
            end = offset + len(chunk)
            lo, hi = bisect.bisect_right(seg_starts, offset), bisect.bisect_left(seg_starts, end)
            bounds = [offset, *seg_starts[lo:hi], end]
            frame = [(clip[a:b], a in starts) for a, b in zip(bounds, bounds[1:], strict=False)]
            pieces.append([p for p in frame if p[0]])
            offset = end
        return cls(pieces)

    @property
    def frames(self) -> int:
        return len(self.pieces)


@dataclass
class FeedLog:
    available: dict[int, float] = field(default_factory=dict)  # frame n → input available
    measure_from: int = 0  # frames before this one are the warm-up
    measure_started: float | None = None  # when the first byte of the measured part left


async def publish(
    url: str,
    layout: ClipLayout,
    fps: float,
    *,
    warm_frames: int,
    fast: bool,
    log: FeedLog,
    gate: FeedGate | None = None,
) -> None:
    """The warm-up frames at ``fps``; the measured rest at ``fps`` too, or as fast as the system
    takes them (``fast``: at most ``gate.lead`` frames ahead of its newest output)."""
    log.measure_from = warm_frames
    http = make_client_session()
    pub = TricklePublisher(url, session=http)
    writer: SegmentWriter | None = None
    t0 = time.monotonic()
    try:
        for n, frame in enumerate(layout.pieces):
            if n < warm_frames or not fast:
                await asyncio.sleep(max(0.0, t0 + n / fps - time.monotonic()))
            elif gate is not None:
                await gate.wait_for(n)
            if n == warm_frames:
                log.measure_started = time.monotonic()
            for data, new_segment in frame:
                if new_segment or writer is None:
                    if writer is not None:
                        await writer.close()
                    writer = await pub.next_segment()
                await writer.write(data)
            log.available[n] = time.monotonic()
        if writer is not None:
            await writer.close()
    finally:
        await pub.close(delete=True)
        await http.close()


@dataclass
class OutputLog:
    data: bytearray = field(default_factory=bytearray)
    ends: list[int] = field(default_factory=list)  # cumulative byte count after each chunk
    times: list[float] = field(default_factory=list)
    newest_pts: int = -1  # highest video PES pts seen so far (live progress for the gate)
    _scan: int = 0
    progressed: asyncio.Event = field(default_factory=asyncio.Event)

    def arrival(self, offset: int) -> float:
        return self.times[min(len(self.times) - 1, bisect.bisect_right(self.ends, offset))]

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        self.ends.append(len(self.data))
        self.times.append(time.monotonic())
        newest = self.newest_pts
        data, i = self.data, self._scan
        while i + 188 <= len(data):
            if data[i] != 0x47:
                i += 1  # lost sync: look for the next packet start
                continue
            pts = _video_pes_pts(data, i)
            if pts is not None and pts > newest:
                newest = pts
            i += 188
        self._scan = i
        if newest > self.newest_pts:
            self.newest_pts = newest
            self.progressed.set()


def _video_pes_pts(data: bytearray, i: int) -> int | None:
    """The pts of the video PES starting in the TS packet at ``i``, if one starts there."""
    if not data[i + 1] & 0x40:  # payload_unit_start_indicator
        return None
    start = i + 4
    if data[i + 3] & 0x20:  # adaptation field
        start += 1 + data[i + 4]
    pes = data[start : start + 14]
    if len(pes) < 14 or pes[:3] != b"\0\0\x01" or not 0xE0 <= pes[3] <= 0xEF or not pes[7] & 0x80:
        return None
    p = pes[9:14]
    return (p[0] >> 1 & 7) << 30 | p[1] << 22 | (p[2] >> 1) << 15 | p[3] << 7 | p[4] >> 1


@dataclass
class FeedGate:
    """Closed-loop feed: frame n may leave once the newest output frame is at least n - lead.

    The newest output frame comes from the output's video pts (all three systems keep the input
    pts); when no output arrives for ``stall_s`` the gate opens anyway (counted), so a system
    that drops frames or rewrites pts cannot stall the feed."""

    out: OutputLog
    fps: float
    start_pts: int
    lead: int
    stall_s: float = 0.5
    stalls: int = 0

    def newest(self) -> int:
        if self.out.newest_pts < 0:
            return -1
        return round((self.out.newest_pts - self.start_pts) * self.fps / 90_000)

    async def wait_for(self, n: int) -> None:
        while n - self.newest() > self.lead:
            self.out.progressed.clear()
            try:
                await asyncio.wait_for(self.out.progressed.wait(), self.stall_s)
            except asyncio.TimeoutError:
                self.stalls += 1
                return


async def record(url: str, log: OutputLog, stop: asyncio.Event) -> None:
    """Read the output channel from its current segment on, stamping every chunk."""
    http = make_client_session()
    try:
        async with TrickleSubscriber(url, session=http, start_seq=-2) as sub:
            while not stop.is_set():
                segment = await sub.next_segment()
                if segment is None:
                    return
                async for chunk in segment.chunks():
                    log.add(chunk)
    finally:
        await http.close()


def output_frames(log: OutputLog) -> dict[int, float]:
    """Frame number → time its output access unit's first byte arrived (first copy wins)."""
    found: dict[int, float] = {}
    if not log.data:
        return found
    with av.open(io.BytesIO(bytes(log.data)), mode="r", format="mpegts") as container:
        if not container.streams.video:
            return found
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                continue
            for frame in decoded:
                number = read_frame_number(frame.to_ndarray(format="rgb24"))
                pos = packet.pos if packet.pos is not None and packet.pos >= 0 else 0
                found.setdefault(number, log.arrival(pos))
    return found


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def latency_ms(feed: FeedLog, out: dict[int, float], first: int, last: int) -> list[float]:
    return [
        (out[n] - feed.available[n]) * 1e3
        for n in range(first, last)
        if n in out and n in feed.available
    ]


def measured(feed: FeedLog, out: dict[int, float]) -> list[float]:
    """Output times of the measured frames."""
    return [t for n, t in out.items() if n >= feed.measure_from]


def throughput(feed: FeedLog, out: dict[int, float]) -> float:
    """Output frames/s of the measured part (from its first input byte to its last output)."""
    kept = measured(feed, out)
    if not kept or feed.measure_started is None:
        return float("nan")
    return len(kept) / (max(kept) - feed.measure_started)
