"""Counters the decoder and encoder keep; read them from any thread (plain ints, no locks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class DecoderStats:
    frames: int = 0  # video frames handed to on_video
    decoded: int = 0  # video frames decoded (frames + dropped_fps + dropped while resyncing)
    dropped_fps: int = 0  # dropped by the max_fps cap
    skipped_packets: int = 0  # video packets skipped while waiting for a keyframe
    errors: int = 0  # damaged input incidents (each reported once through on_error)
    discontinuities: int = 0  # timestamp jumps (backwards or > 2 s)
    audio_frames: int = 0
    audio_errors: int = 0
    width: int = 0
    height: int = 0
    has_audio: bool = False
    audio_codec: str | None = None
    resolution_changes: int = 0
    bytes_in: int = 0
    dropped_bytes: int = 0  # input dropped because the decoder fell too far behind
    muxer_restarts: int = 0  # new TS muxer runs found inside the input (each demuxed on its own)
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EncoderStats:
    frames: int = 0  # video frames encoded
    dropped: int = 0  # video frames dropped: too old, queue full, queued at close/failure
    segments: int = 0  # segments begun
    keyframes: int = 0
    width: int = 0
    height: int = 0
    reinits: int = 0  # video encoder re-created for a new frame size
    audio_frames: int = 0  # audio frames encoded (Opus, 20 ms each)
    audio_dropped: int = 0
    pts_adjustments: int = 0  # backwards input jumps re-timed to keep the output monotonic
    bytes_out: int = 0
    errors: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
