"""Cut one continuous MPEG-TS byte stream into trickle segments, each starting at a keyframe.

Segmenting rule (docs/media.md): a segment starts with the PAT/PMT that the muxer
writes directly before a video keyframe, and runs up to the next such point. FFmpeg's MPEG-TS
muxer always re-sends its tables (SDT, PAT, PMT) right before a video keyframe and marks the
keyframe's first TS packet with ``random_access_indicator``; so the cut goes before the run of
table packets that directly precedes a video packet that starts a PES and carries that flag.

Because every byte still comes from one muxer, continuity counters and timestamps continue across
segments: the segments decode alone (tables and an IDR at the start) and concatenated (one stream).

The segmenter parses only TS headers and the PAT/PMT (to learn the video PID), never payloads,
and passes bytes on as soon as it knows which segment they belong to. Only a trailing run of table
packets (a possible cut point) is held back until the next packet shows what follows it.
"""

from __future__ import annotations

from typing import Protocol

TS_PACKET_SIZE = 188
SYNC_BYTE = 0x47
PAT_PID = 0x0000
SDT_PID = 0x0011
# PMT stream_type values of video codecs: MPEG-1/2, MPEG-4 part 2, H.264, HEVC
VIDEO_STREAM_TYPES = frozenset({0x01, 0x02, 0x10, 0x1B, 0x24})


class SegmentSink(Protocol):
    """Receives the bytes of consecutive segments (called on the encoder thread)."""

    def begin_segment(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def end_segment(self) -> None: ...


def _payload_start(data: bytes, off: int) -> int:
    """Offset of the payload of the TS packet at ``off`` (after any adaptation field)."""
    start = off + 4
    if data[off + 3] & 0x20:
        start += 1 + data[off + 4]
    return start


def _section_start(data: bytes, off: int) -> int:
    """Offset of the PSI section in a packet that starts one (skips the pointer field)."""
    p = _payload_start(data, off)
    return p + 1 + data[p] if p < off + TS_PACKET_SIZE else off + TS_PACKET_SIZE


def parse_pat(data: bytes, off: int) -> set[int]:
    """PMT PIDs listed by the PAT section that starts in the packet at ``off``."""
    end_pkt = off + TS_PACKET_SIZE
    sec = _section_start(data, off)
    if sec + 8 > end_pkt or data[sec] != 0x00:
        return set()
    length = ((data[sec + 1] & 0x0F) << 8) | data[sec + 2]
    end = min(sec + 3 + length - 4, end_pkt)
    pids = set()
    for i in range(sec + 8, end - 3, 4):
        if (data[i] << 8) | data[i + 1]:  # program 0 is the network PID, not a PMT
            pids.add(((data[i + 2] & 0x1F) << 8) | data[i + 3])
    return pids


def parse_pmt_video_pid(data: bytes, off: int) -> int | None:
    """PID of the first video stream in the PMT section that starts in the packet at ``off``."""
    end_pkt = off + TS_PACKET_SIZE
    sec = _section_start(data, off)
    if sec + 12 > end_pkt or data[sec] != 0x02:
        return None
    length = ((data[sec + 1] & 0x0F) << 8) | data[sec + 2]
    end = min(sec + 3 + length - 4, end_pkt)
    i = sec + 12 + (((data[sec + 10] & 0x0F) << 8) | data[sec + 11])
    while i + 5 <= end:
        if data[i] in VIDEO_STREAM_TYPES:
            return ((data[i + 1] & 0x1F) << 8) | data[i + 2]
        i += 5 + (((data[i + 3] & 0x0F) << 8) | data[i + 4])
    return None


def is_random_access_start(data: bytes, off: int) -> bool:
    """The packet at ``off`` starts a PES (PUSI) and has ``random_access_indicator`` set."""
    return bool(
        data[off + 1] & 0x40 and data[off + 3] & 0x20 and data[off + 4] and data[off + 5] & 0x40
    )


class TsSegmenter:
    """Feed TS bytes in any chunking; the sink gets segments that start at video keyframes."""

    def __init__(self, sink: SegmentSink) -> None:
        self._sink = sink
        self._rest = b""  # an incomplete trailing TS packet
        self._held = b""  # trailing table packets: a possible cut point
        self._pmt_pids: set[int] = set()
        self.video_pid: int | None = None
        self.in_segment = False
        self.segments = 0
        self.bytes_out = 0

    def feed(self, chunk: bytes) -> None:
        data = self._held + self._rest + chunk if (self._held or self._rest) else chunk
        usable = len(data) - len(data) % TS_PACKET_SIZE
        self._rest = data[usable:]
        self._held = b""
        emit_from = 0
        run_start: int | None = None  # first packet of the current run of table packets
        for off in range(0, usable, TS_PACKET_SIZE):
            if data[off] != SYNC_BYTE:
                run_start = None
                continue
            pid = ((data[off + 1] & 0x1F) << 8) | data[off + 2]
            if pid == PAT_PID or pid == SDT_PID or pid in self._pmt_pids:
                self._read_tables(data, off, pid)
                if run_start is None:
                    run_start = off
                continue
            if pid == self.video_pid and is_random_access_start(data, off):
                cut = off if run_start is None else run_start
                self._write(data, emit_from, cut)
                self._end()
                emit_from = cut
            run_start = None
        hold_from = usable if run_start is None else run_start
        self._write(data, emit_from, hold_from)
        self._held = data[hold_from:usable]

    def _read_tables(self, data: bytes, off: int, pid: int) -> None:
        if not data[off + 1] & 0x40:  # no section starts here
            return
        if pid == PAT_PID:
            pids = parse_pat(data, off)
            if pids:
                self._pmt_pids = pids
        elif pid != SDT_PID:
            video = parse_pmt_video_pid(data, off)
            if video is not None:
                self.video_pid = video

    def _write(self, data: bytes, start: int, end: int) -> None:
        if end <= start:
            return
        if not self.in_segment:
            self._sink.begin_segment()
            self.in_segment = True
            self.segments += 1
        self._sink.write(data[start:end] if start or end != len(data) else data)
        self.bytes_out += end - start

    def _end(self) -> None:
        if self.in_segment:
            self._sink.end_segment()
            self.in_segment = False

    def flush(self) -> None:
        """The stream ended: pass on held bytes and end the open segment."""
        held, self._held = self._held + self._rest, b""
        self._rest = b""
        self._write(held, 0, len(held))
        self._end()
