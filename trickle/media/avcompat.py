"""The PyAV calls whose API changed between the oldest supported PyAV and the newest.

PyAV 17 added ``OutputContainer.add_mux_stream``: a muxer stream with codec parameters only, for
packets encoded elsewhere. Older PyAV (ComfyUI itself asks only ``av>=14.2.0``) has no such call:
every output stream carries an encoder context that the container opens before writing the
header. There the stream gets the smallest encoder context of the codec (16x16,
``VideoCodec.placeholder_options``), which is opened once and never fed a frame; the packets come
from :class:`.video_out.VideoEncoder` either way, and MPEG-TS needs nothing from the stream but
its codec id (H.264's SPS/PPS travel in-band).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av

from .codecs import VideoCodec


def add_video_mux_stream(
    container: av.container.OutputContainer, codec: VideoCodec, rate: Fraction
) -> Any:
    """A ``codec`` stream on ``container`` for packets encoded elsewhere (see the module doc)."""
    add_mux_stream = getattr(container, "add_mux_stream", None)
    if add_mux_stream is not None:  # PyAV >= 17
        return add_mux_stream(codec.name, rate=rate)
    options = dict(codec.placeholder_options)
    return container.add_stream(codec.encoder, rate=rate, width=16, height=16, options=options)
