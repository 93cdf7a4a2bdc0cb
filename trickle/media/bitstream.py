"""Small elementary-stream helpers the decoder needs because it demuxes without parsers.

The decoder opens MPEG-TS with ``fflags=+noparse`` so that each PES is handed over the moment it
is complete (a parser would hold every access unit until the next one starts: one to two frames
of latency). Without a parser, two things are left to us:
- whether an H.264 access unit is a keyframe (IDR), to resynchronise after damaged input, and
  whether the first bytes of a PES look like one (IDR or SPS), to find a muxer restart;
- splitting an Opus PES into Opus packets (ETSI TS 102 366 control headers), which FFmpeg
  otherwise does in its Opus parser.
"""

from __future__ import annotations

H264_NAL_SLICE = 1
H264_NAL_IDR = 5
H264_NAL_SPS = 7
_START = b"\x00\x00\x01"


def h264_is_keyframe(data: bytes) -> bool:
    """True if the Annex B access unit contains an IDR slice (checked up to its first slice)."""
    pos = data.find(_START)
    while pos >= 0 and pos + 3 < len(data):
        nal_type = data[pos + 3] & 0x1F
        if nal_type == H264_NAL_IDR:
            return True
        if nal_type == H264_NAL_SLICE:
            return False
        pos = data.find(_START, pos + 3)
    return False


def h264_starts_keyframe(head: bytes) -> bool:
    """True if the first bytes of an access unit hold an IDR slice or an SPS NAL unit (a PES's
    first TS packet may end before the IDR slice, after the parameter sets and an SEI)."""
    pos = head.find(_START)
    while 0 <= pos < len(head) - 3:
        if head[pos + 3] & 0x1F in (H264_NAL_IDR, H264_NAL_SPS):
            return True
        pos = head.find(_START, pos + 3)
    return False


def split_opus_ts(data: bytes) -> list[bytes]:
    """The Opus packets of one PES payload in MPEG-TS framing (control header + packet each).

    Raises ValueError when the framing is damaged; the packets found before the damage are lost
    with it (the caller counts an audio error and goes on).
    """
    packets: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end or data[pos] != 0x7F or data[pos + 1] & 0xE0 != 0xE0:
            raise ValueError(f"opus control header expected at byte {pos}")
        flags = data[pos + 1]
        pos += 2
        size = 0
        while pos < end and data[pos] == 0xFF:
            size += 255
            pos += 1
        if pos >= end:
            raise ValueError("opus au_size runs past the PES")
        size += data[pos]
        pos += 1
        pos += 2 * bool(flags & 0x10) + 2 * bool(flags & 0x08)  # start / end trim
        if flags & 0x04:  # control extension
            if pos >= end:
                raise ValueError("opus control extension runs past the PES")
            pos += 1 + data[pos]
        if pos + size > end:
            raise ValueError(f"opus packet of {size} bytes runs past the PES")
        packets.append(data[pos : pos + size])
        pos += size
    return packets
