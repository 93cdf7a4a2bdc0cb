"""Finds where a new MPEG-TS muxer run begins inside a byte stream fed in arbitrary pieces.

Some publishers start a fresh TS muxer within one trickle segment: livepeer-gateway's
``MediaPublish`` puts several PyAV ``segment``-muxer files (one per keyframe interval) into one
trickle segment until a minimum wall-clock length is reached, each with its own PAT/PMT and
continuity counters starting again. One demuxer reading across such a restart flags the PES in
progress as damaged (the continuity counter of the next packet does not follow), losing the last
frame of every muxer run; with new PIDs it would not even see the next run's streams.

A restart is recognised by a PAT whose continuity counter does not follow the previous PAT's
(FFmpeg repeats the PAT at least every 100 ms, counting on), *and* whose first video PES start
after it is a keyframe (random-access indicator, or ``VIDEO.starts_keyframe`` of its first
packet: for H.264 an IDR or SPS NAL unit).
A PAT lost with damaged input is followed by a frame that is not a keyframe, so damage still
reaches the demuxer as one stream and is reported there. The decoder places a segment boundary
before a restart, so each muxer run gets its own demuxer (see ``decoder``).

Bytes are held back only while they cannot matter yet: the incomplete last TS packet of a piece,
and from a restart-like PAT up to the packet that decides it (a few packets, the start of a frame).
"""

from __future__ import annotations

from .codecs import VIDEO

TS_SIZE = 188
SYNC = 0x47
_PAT_START = b"\x47\x40\x00"  # sync, PUSI with PID 0 (high bits), PID 0 (low bits)
_SDT_PID = 0x11
_DECIDE_WITHIN = 64  # packets after a restart-like PAT to find the first video PES start in

BOUNDARY = None  # in the list feed() returns: a muxer restart begins here


def _pid(packet: bytes | bytearray, i: int) -> int:
    return (packet[i + 1] & 0x1F) << 8 | packet[i + 2]


def video_pes_start(data: bytes | bytearray, i: int) -> bool | None:
    """For the TS packet at ``i``: None unless it starts a video PES; else True for a keyframe."""
    if not data[i + 1] & 0x40:
        return None
    control = data[i + 3] >> 4 & 3
    pos = i + 4
    random_access = False
    if control & 2:
        length = data[pos]
        random_access = length > 0 and bool(data[pos + 1] & 0x40)
        pos += 1 + length
    end = i + TS_SIZE
    if not control & 1 or pos + 9 > end:
        return None
    if data[pos : pos + 3] != b"\x00\x00\x01" or not 0xE0 <= data[pos + 3] <= 0xEF:
        return None
    if random_access:
        return True
    return VIDEO.starts_keyframe(bytes(data[pos + 9 + data[pos + 8] : end]))


class MuxerRestarts:
    """Feed bytes in any pieces; get them back in order with BOUNDARY where a new run begins.

    The input is expected to start on a TS packet (as every trickle segment does); after garbage
    the packet grid is searched for again, and bytes pass through unchanged until it is found.
    """

    def __init__(self) -> None:
        self._buf = bytearray()  # bytes not released yet
        self._aligned = True  # _buf[_scanned] starts a TS packet
        self._scanned = 0  # offset in _buf up to which packets were looked at
        self._pat_cc: int | None = None
        self._candidate: int | None = None  # offset in _buf of a restart-like PAT (or its SDT)
        self.restarts = 0

    def reset(self) -> list[bytes | None]:
        """A segment ends here (the next byte starts a packet): release everything, start over."""
        out = self._release(len(self._buf))
        self._aligned, self._scanned = True, 0
        self._pat_cc = self._candidate = None
        return out

    def feed(self, data: bytes) -> list[bytes | None]:
        self._buf += data
        if not self._aligned and not self._find_grid():
            return self._release(max(0, len(self._buf) - 2 * TS_SIZE))
        out: list[bytes | None] = []
        self._scan(out)
        keep = self._candidate if self._candidate is not None else self._scanned
        out.extend(self._release(keep))
        return out

    def _find_grid(self) -> bool:
        buf = self._buf
        i = buf.find(SYNC)
        while 0 <= i < len(buf) - TS_SIZE:
            if buf[i + TS_SIZE] == SYNC:
                self._aligned, self._scanned = True, i
                return True
            i = buf.find(SYNC, i + 1)
        return False

    def _release(self, upto: int) -> list[bytes | None]:
        if upto <= 0:
            return []
        piece = bytes(self._buf[:upto])
        del self._buf[:upto]
        self._scanned = max(0, self._scanned - upto)
        if self._candidate is not None:
            self._candidate -= upto
        return [piece]

    def _scan(self, out: list[bytes | None]) -> None:
        buf = self._buf
        while self._scanned + TS_SIZE <= len(buf):
            i = self._scanned
            if buf[i] != SYNC:  # lost the packet grid (garbage): pass bytes on as they are
                self._aligned = False
                self._candidate = None  # (the PAT counter is kept: a restart after garbage)
                self._scanned = len(buf)
                return
            is_pat = buf[i : i + 3] == _PAT_START and bool(buf[i + 3] & 0x10)
            if self._candidate is not None:
                self._decide(i, out)  # may release bytes before i: _scanned moves with them
            elif is_pat:
                self._check_pat(i)
            if is_pat:
                self._pat_cc = buf[self._scanned + 3] & 0x0F
            self._scanned += TS_SIZE

    def _check_pat(self, i: int) -> None:
        cc, last = self._buf[i + 3] & 0x0F, self._pat_cc
        if last is not None and cc not in (last, (last + 1) & 0x0F):
            start = i
            while start >= TS_SIZE and _pid(self._buf, start - TS_SIZE) == _SDT_PID:
                start -= TS_SIZE  # the run's tables begin with its SDT, when FFmpeg writes one
            self._candidate = start

    def _decide(self, i: int, out: list[bytes | None]) -> None:
        assert self._candidate is not None
        keyframe = video_pes_start(self._buf, i)
        if keyframe is None and i - self._candidate < _DECIDE_WITHIN * TS_SIZE:
            return
        if keyframe:
            out.extend(self._release(self._candidate))
            out.append(BOUNDARY)
            self.restarts += 1
        self._candidate = None
