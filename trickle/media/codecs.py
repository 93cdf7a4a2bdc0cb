"""Decoder contexts that outlive the demuxer.

The decoder may demux each input segment with its own demuxer (each segment is a complete MPEG-TS
stream, possibly from its own muxer run, with its own PIDs). The codec contexts must not follow
the demuxer: a new H.264 decoder would lose its reference frames and thread pool, and a new
audio decoder its state. :class:`DecoderContexts` keeps one context per stream kind and makes a
new one only when the codec changes: its name, or for audio its extradata (Opus channel setup).
Video extradata is not compared: for H.264 in MPEG-TS it is only the in-band SPS/PPS the demuxer
happened to find, absent when the segment's first packet is damaged.
"""

from __future__ import annotations

import logging
from typing import Any

import av

log = logging.getLogger(__name__)


class DecoderContexts:
    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._contexts: dict[str, tuple[tuple[str, bytes], Any]] = {}

    def get(self, stream: Any) -> Any:
        """The decoder context for ``stream``'s kind (video/audio), made or re-made as needed."""
        kind = stream.type
        params = stream.codec_context
        extra = bytes(params.extradata or b"") if kind == "audio" else b""
        held = self._contexts.get(kind)
        if held is not None and not extra:
            extra = held[0][1]  # no extradata found this time: keep the setup known
        key = (params.name, extra)
        if held is not None and held[0] == key:
            return held[1]
        ctx = av.CodecContext.create(params.name, "r")
        if key[1]:
            ctx.extradata = key[1]
        if kind == "video":
            ctx.thread_count = self._threads
            ctx.thread_type = "SLICE"
        if held is not None:
            log.info("%s codec changed: %s -> %s", kind, held[0][0], key[0])
        self._contexts[kind] = (key, ctx)
        return ctx

    def held(self) -> list[Any]:
        """The contexts made so far (to drain them at the end of the input)."""
        return [ctx for _, ctx in self._contexts.values()]
