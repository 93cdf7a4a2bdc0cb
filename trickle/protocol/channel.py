"""One server-side channel: a ring of the last 5 segments and the write head (``nextWrite``).

Semantics are go-livepeer's (reference ``trickle-protocol.md`` §4) except for its bugs in §8:
- a POST never displaces a newer segment, and never moves the write head backwards, unless it is
  a publisher restart (``Lp-Trickle-Reset``, or seq 0 arriving after the head has moved on: every
  publisher starts at 0);
- the caller (the HTTP layer) refuses negative seqs other than -1/-2 with 400 before asking here.
"""

from __future__ import annotations

import logging
import time

from ..redaction import short_name
from .headers import RING_SIZE, SEQ_CURRENT, SEQ_NEXT
from .segment_buffer import SegmentBuffer

log = logging.getLogger(__name__)


class Channel:
    """State of one channel; all methods run on the server's event loop."""

    def __init__(self, name: str, mime_type: str) -> None:
        self.name = name
        self.mime_type = mime_type
        self.next_write = 0
        self.write_time = time.monotonic()
        self.closed = False
        self._ring: list[SegmentBuffer | None] = [None] * RING_SIZE
        self.parked: set[SegmentBuffer] = set()  # POSTs outside the ring until their first byte

    def resident(self, seq: int) -> SegmentBuffer | None:
        """The segment ``seq`` if the ring still holds it (open, closed, or preconnected)."""
        if seq < 0:
            return None
        seg = self._ring[seq % RING_SIZE]
        return seg if seg is not None and seg.seq == seq else None

    def resolve_read(self, seq: int) -> int:
        """-1 → the next segment to be written, -2 → the current one (0 on a fresh channel)."""
        if seq == SEQ_NEXT:
            return self.next_write
        if seq == SEQ_CURRENT:
            return max(self.next_write - 1, 0)
        return seq

    def segment_for_read(self, seq: int) -> SegmentBuffer | None:
        """The segment a GET streams, pre-created at the write head; None → 470 (or EOS)."""
        seg = self.resident(seq)
        if seg is not None or self.closed:
            return seg
        if seq == self.next_write or (self.next_write == 0 and seq == 1):
            # go-livepeer's grace rule: wait for the segment the publisher will write next. The
            # old occupant (5 behind) is displaced without closing: its own POST still ends it.
            seg = SegmentBuffer(seq)
            self._ring[seq % RING_SIZE] = seg
            return seg
        return None

    def is_restart(self, seq: int, reset: bool) -> bool:
        """A POST that restarts the channel below its head (reset, or a new publisher at 0)."""
        seg = self.resident(seq)
        if seq >= self.next_write or (seg is not None and not seg.closed):
            return False  # at/after the head, or a retry into a segment that is still open
        return reset or seq == 0

    def segment_for_write(self, seq: int, restart: bool) -> SegmentBuffer | None:
        """The segment a POST writes into; None when the POST is late (it would evict newer data)."""
        seg = self.resident(seq)
        if seg is not None and not restart:
            return seg  # re-POST of the same seq: appends while open (go-livepeer behaviour)
        slot = seq % RING_SIZE
        occupant = self._ring[slot]
        if occupant is not None and occupant.seq > seq and not restart:
            log.warning(
                "channel %s: late POST of seq %d refused (slot holds %d)",
                short_name(self.name),
                seq,
                occupant.seq,
            )
            return None
        if occupant is not None:
            occupant.close()
        seg = SegmentBuffer(seq)
        self._ring[slot] = seg
        return seg

    def close_before(self, seq: int) -> int:
        """``Lp-Trickle-Reset``: close every resident segment older than ``seq``; how many."""
        count = 0
        for seg in self._ring:
            if seg is not None and seg.seq < seq and not seg.closed:
                seg.close()
                count += 1
        return count

    def started(self, seq: int, restart: bool) -> None:
        """A POST got its first byte (or ended empty): move the head, note the write time."""
        self.write_time = time.monotonic()
        if restart:
            self._drop_others(seq)
            self.next_write = seq + 1
        elif seq + 1 > self.next_write:
            self.next_write = seq + 1

    def close_seq(self, seq: int) -> bool:
        """``DELETE /ch/seq``: close that segment if resident (idempotent); False if not."""
        seg = self.resident(seq)
        if seg is None:
            return False
        seg.close()
        return True

    def close(self) -> None:
        """Close the channel and every segment; waiting readers see ``Lp-Trickle-Closed``."""
        self.closed = True
        for seg in [*self._ring, *self.parked]:
            if seg is not None:
                seg.close()
        self.parked.clear()

    def _drop_others(self, seq: int) -> None:
        """After a restart nothing of the old publisher stays readable: close and forget it."""
        for slot, seg in enumerate(self._ring):
            if seg is not None and seg.seq != seq:
                seg.close()
                self._ring[slot] = None
        log.info("channel %s restarted at seq %d", short_name(self.name), seq)
