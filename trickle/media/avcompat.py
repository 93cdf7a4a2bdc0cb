"""The PyAV calls whose API changed between the oldest supported PyAV and the newest.

PyAV 17 added ``OutputContainer.add_mux_stream``: a muxer stream with codec parameters only, for
packets encoded elsewhere. Older PyAV (ComfyUI itself asks only ``av>=14.2.0``) has no such call:
every output stream carries an encoder context that the container opens before writing the
header. There the stream gets the smallest libx264 context (16x16, one thread, ``ultrafast``),
which is opened once and never fed a frame; the packets come from :class:`.video_out.H264Encoder`
either way, and MPEG-TS needs nothing from the stream but its codec id (SPS/PPS travel in-band).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av


def add_h264_mux_stream(container: av.container.OutputContainer, rate: Fraction) -> Any:
    """An H.264 stream on ``container`` for packets encoded elsewhere (see the module doc)."""
    add_mux_stream = getattr(container, "add_mux_stream", None)
    if add_mux_stream is not None:  # PyAV >= 17
        return add_mux_stream("h264", rate=rate)
    options = {"preset": "ultrafast", "threads": "1"}
    return container.add_stream("libx264", rate=rate, width=16, height=16, options=options)
