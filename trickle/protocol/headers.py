"""Names and fixed values of the trickle protocol, shared by the clients and the server.

Reference: ``trickle-protocol.md`` §3.8 (headers) and §3.9 (status codes).
"""

from __future__ import annotations

SEQ = "Lp-Trickle-Seq"
LATEST = "Lp-Trickle-Latest"
CLOSED = "Lp-Trickle-Closed"
RESET = "Lp-Trickle-Reset"
EXPECT_CONTENT = "Expect-Content"

CLOSED_VALUE = "terminated"  # Go tests for a non-empty value, Python for presence: always send it.

STATUS_NOT_AVAILABLE = 470  # channel exists, segment does not (evicted, too far ahead, displaced)

SEQ_NEXT = -1  # GET: the next segment to be written; POST: the server picks the seq
SEQ_CURRENT = -2  # GET: the segment being written now (or the last finished one)

RING_SIZE = 5  # segments a server keeps per channel

ENTRY_NOT_FOUND = "Entry not found"
STREAM_NOT_FOUND = "Stream not found"
INVALID_IDX = "Invalid idx"


def parse_int(value: str | None) -> int | None:
    """A decimal header or path value, or None when it is absent or not a number."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None
