"""The PyAV calls whose API changed between the oldest supported PyAV and the newest.

PyAV 17 added ``OutputContainer.add_mux_stream``: a muxer stream with codec parameters only, for
packets encoded elsewhere. Older PyAV (ComfyUI itself asks only ``av>=14.2.0``) has no such call:
every output stream carries an encoder context that the container opens before writing the
header. There the stream gets the smallest encoder context of the codec (16x16,
``VideoCodec.placeholder_options``), which is opened once and never fed a frame; the packets come
from :class:`.video_out.VideoEncoder` either way, and MPEG-TS needs nothing from the stream but
its codec id (H.264's SPS/PPS travel in-band).

PyAV 17 also moved ``VideoReformatter.reformat`` to FFmpeg's ``sws_scale_frame`` with a
``threads`` argument, and its default (0) gives every conversion a pool of swscale threads, one per
core. Older PyAV converts on the calling thread and takes no such argument:
:func:`reformat_thread_options` says which of the two this PyAV is.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Any

import av
from av.video.reformatter import VideoReformatter

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


@cache
def reformat_thread_options(threads: int) -> dict[str, Any]:
    """The keyword that gives ``VideoReformatter.reformat`` ``threads`` swscale threads:
    ``{"threads": threads}`` on PyAV >= 17, ``{}`` before (where it always converts on the calling
    thread). Found once by converting a 16×16 picture."""
    probe = av.VideoFrame(16, 16, "yuv420p")
    try:
        VideoReformatter().reformat(probe, format="rgb24", threads=threads)
    except TypeError:  # PyAV < 17: no threads argument
        return {}
    return {"threads": threads}
