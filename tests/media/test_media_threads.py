"""Thread settings per stream: conversions on the calling thread, one encoder thread for small
pictures, the codec's own threads for large ones; the same bytes either way. FFmpeg's threads are
counted with ``tests/native_threads.py``."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter
from trickle_live.trickle.deps import version_tuple
from trickle_live.trickle.media.avcompat import reformat_thread_options
from trickle_live.trickle.media.codecs import encoder_threads
from trickle_live.trickle.media.decoder import StreamDecoder
from trickle_live.trickle.media.encoder import StreamEncoder
from trickle_live.trickle.media.frames import VideoFrame
from trickle_live.trickle.media.jpeg import encode_jpeg
from trickle_live.trickle.media.resize import FrameShaper
from trickle_live.trickle.media.scaler import Scaler
from trickle_live.trickle.media.testclip import SegmentCollector, make_test_clip, pattern_frame
from trickle_live.trickle.media.threads import ALONE, SHARED, stream_threads
from trickle_live.trickle.media.video_out import VideoEncoder

from ..native_threads import HAS_TASKS, native_threads

pytestmark = pytest.mark.skipif(not HAS_TASKS, reason="needs Linux's /proc/self/task")
PYAV_POOLS = version_tuple(av.__version__) >= (17, 0, 0)  # reformat takes threads= from 17 on


def picture(width: int, height: int) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(pattern_frame(3, width, height), format="rgb24").reformat(
        format="yuv420p"
    )


def test_the_probe_matches_this_pyav() -> None:
    expected = {"threads": 1} if PYAV_POOLS else {}
    assert reformat_thread_options(1) == expected


def test_scaler_converts_on_the_calling_thread_with_the_same_bytes() -> None:
    source = picture(1280, 720)
    with native_threads() as ours:
        scaler = Scaler()
        rgb = scaler.reformat(source, format="rgb24")
        yuv = scaler.reformat(rgb, format="yuv420p")
    assert ours == set()
    default = VideoReformatter()
    with native_threads() as pyav:
        default_rgb = default.reformat(source, format="rgb24")
        default_yuv = default.reformat(default_rgb, format="yuv420p")
    if PYAV_POOLS and (os.cpu_count() or 1) > 1:
        assert pyav, "PyAV's default starts swscale threads here: the count above can see them"
    assert np.array_equal(rgb.to_ndarray(), default_rgb.to_ndarray())
    for ours_plane, theirs in zip(yuv.planes, default_yuv.planes, strict=True):
        assert bytes(ours_plane) == bytes(theirs)


@pytest.mark.parametrize(
    ("size", "threads"),
    [((512, 512), 1), ((1280, 720), 1), ((720, 1280), 1), ((1282, 720), 0), ((1920, 1080), 0)],
)
def test_encoder_threads_by_picture_size(size: tuple[int, int], threads: int) -> None:
    assert encoder_threads(*size) == threads


def test_one_stream_per_runner_keeps_ffmpegs_threads_several_share() -> None:
    """A runner of capacity 1 leaves its stream FFmpeg's own thread choices; with room for several
    streams each converts on its own threads and encodes by the size rule."""
    assert stream_threads(1) == ALONE and ALONE.encoder == 0 and ALONE.scaler == 0
    assert stream_threads(2) == stream_threads(8) == SHARED
    assert SHARED.encoder is None and SHARED.scaler == 1
    with native_threads() as pools:
        scaler = Scaler(ALONE.scaler)
        scaler.reformat(scaler.reformat(picture(1280, 720), format="rgb24"), format="yuv420p")
    if PYAV_POOLS and (os.cpu_count() or 1) > 1:
        assert pools, "threads=0 is PyAV's default: a pool of swscale threads"
    else:
        assert pools == set()


def _encode(encoder: VideoEncoder, width: int, height: int, count: int) -> int:
    out = 0
    for i in range(count):
        out += len(encoder.encode(pattern_frame(i, width, height), 90_000 + 3000 * i))
    return out + len(encoder.flush())


def test_a_small_picture_is_encoded_on_the_calling_thread() -> None:
    with native_threads() as started:
        packets = _encode(VideoEncoder(), 512, 512, 3)
    assert packets == 3
    assert started == set()


def test_a_large_picture_gets_the_codecs_threads() -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: the codec starts no threads of its own")
    with native_threads() as started:
        packets = _encode(VideoEncoder(), 1920, 1080, 2)
    assert packets == 2
    assert started, "x264 chooses its own threads above 1280x720"


def test_previews_resizes_and_explicit_threads_follow_the_setting() -> None:
    image = pattern_frame(1, 640, 480)
    with native_threads() as started:
        jpeg = encode_jpeg(image)
        shaped = FrameShaper(320, 320).shape(image)
        packets = _encode(VideoEncoder(threads=1), 1920, 1080, 1)
    assert jpeg[:2] == b"\xff\xd8" and shaped.shape == (320, 320, 3) and packets == 1
    assert started == set()


def test_a_stream_runs_on_its_decoder_and_encoder_threads_alone() -> None:
    """512² through StreamDecoder → StreamEncoder: no FFmpeg thread besides the two the stream
    names (on the main this started x264's and two swscale pools)."""
    clip = make_test_clip(1.0, 512, 512, 30)
    collector = SegmentCollector()
    with native_threads() as started:
        encoder = StreamEncoder(collector, fps_hint=30.0, queue_size=100)
        decoder = StreamDecoder(encoder.put_video)
        encoder.start()
        decoder.start()
        decoder.feed(clip)
        decoder.end()
        decoder.wait()
        _wait_for(lambda: encoder.stats.frames >= 30, 20.0)
        encoder.close(timeout=20)
    assert encoder.stats.frames == 30 and encoder.stats.dropped == 0
    assert started == set()
    with av.open(io.BytesIO(b"".join(collector.segments))) as container:
        assert sum(1 for _ in container.decode(video=0)) == 30


def _wait_for(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_frames_keep_their_values_through_the_one_thread_scaler() -> None:
    """A decoded frame's RGB is what PyAV's own conversion gives (no quality traded)."""
    clip = make_test_clip(0.2, 256, 144, 30)
    got: list[VideoFrame] = []
    decoder = StreamDecoder(got.append)
    decoder.start()
    decoder.feed(clip)
    decoder.end()
    decoder.wait()
    with av.open(io.BytesIO(clip)) as container:
        expected = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(got) == len(expected) > 0
    assert all(np.array_equal(a.image, b) for a, b in zip(got, expected, strict=True))
