"""The floor (benchmarks/_bare.py, PyAV alone) does the media layer's work: the same output
segments — as many, each decoding alone, starting with a keyframe at the same pts, as many
frames — as StreamDecoder → StreamEncoder for the same input; and with its thread settings."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import av
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from _bare import BareTranscode  # noqa: E402
from transcode import _MediaLayer, frame_chunks  # noqa: E402

from trickle.media.testclip import make_test_clip, split_segments  # noqa: E402

from ..native_threads import HAS_TASKS, native_threads  # noqa: E402


class Segments:
    def __init__(self) -> None:
        self.segments: list[bytearray] = []
        self.open = False

    def begin_segment(self) -> None:
        assert not self.open
        self.segments.append(bytearray())
        self.open = True

    def write(self, data: bytes) -> None:
        assert self.open
        self.segments[-1] += data

    def end_segment(self) -> None:
        assert self.open
        self.open = False

    def shape(self) -> list[tuple[int, bool, int | None]]:
        """Per segment, decoded alone: frames, first frame a keyframe, its pts."""
        out = []
        for segment in self.segments:
            with av.open(io.BytesIO(bytes(segment)), format="mpegts") as container:
                frames = list(container.decode(video=0))
            out.append((len(frames), bool(frames and frames[0].key_frame), frames[0].pts))
        return out


def test_the_floor_cuts_and_encodes_like_the_media_layer() -> None:
    clip = make_test_clip(3, 128, 128, 30)
    floor, layer = Segments(), Segments()
    bare = BareTranscode(floor)
    bare.start()
    for segment in split_segments(clip):  # as trickle delivers it: a demuxer per segment
        bare.feed(segment)
        bare.end_segment()
    bare.end()
    assert bare.wait(30)
    ours = _MediaLayer(layer, 30.0, None)
    ours.start()
    for chunk in frame_chunks(clip):
        ours.feed(chunk)
    ours.finish()
    assert not floor.open and not layer.open
    assert floor.shape() == layer.shape() == [(30, True, 90_000 + k * 90_000) for k in range(3)]


@pytest.mark.skipif(not HAS_TASKS, reason="needs Linux's /proc/self/task")
def test_the_floor_uses_the_media_layers_thread_settings() -> None:
    """At 512² a session converts on its own threads and encodes with one x264 thread
    (``scaler.SCALER_THREADS``, ``codecs.encoder_threads``): so does the floor, or the ratio to it
    would compare thread settings instead of what the media layer adds."""
    clip = make_test_clip(1, 512, 512, 30)
    floor = Segments()
    with native_threads() as started:
        bare = BareTranscode(floor)
        bare.start()
        bare.feed(clip)
        bare.end()
        assert bare.wait(30)
    assert sum(frames for frames, _, _ in floor.shape()) == 30
    assert started == set()
