"""A passthrough graph hands the input frame's own picture back (no float → uint8 conversion),
but only when the output IMAGE is the very tensor TrickleInput made and nothing changed it; and a
frame plan where no node but TrickleOutput reads the IMAGE converts nothing at all
(``FramePictures``)."""

from __future__ import annotations

import numpy as np
import torch
from trickle_live.nodes.bindings import (
    FramePictures,
    StreamBinding,
    Ticket,
    remember_image,
    unchanged_picture,
)
from trickle_live.nodes.convert import frame_to_image, image_to_frame
from trickle_live.trickle.media.frame_queue import FrameQueue
from trickle_live.trickle.media.frames import VideoFrame
from trickle_live.trickle.session.processor import FrameIO


def _ticket_with_input() -> tuple[Ticket, torch.Tensor]:
    io = FrameIO("s", FrameQueue(2), FrameQueue(2), {})
    ticket = Ticket("trickle-t", StreamBinding(io))
    rgb = np.random.default_rng(1).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    ticket.frame = VideoFrame(rgb, 9000, 3)
    tensor = frame_to_image(rgb)
    remember_image(ticket, tensor)
    return ticket, tensor


def test_the_untouched_input_image_gives_the_input_picture_itself() -> None:
    ticket, tensor = _ticket_with_input()
    assert ticket.frame is not None
    picture = unchanged_picture(ticket, tensor)
    assert picture is ticket.frame.image
    assert np.array_equal(image_to_frame(tensor), picture)  # what the conversion would give


def test_an_image_changed_in_place_is_converted() -> None:
    ticket, tensor = _ticket_with_input()
    tensor.mul_(0.5)
    assert unchanged_picture(ticket, tensor) is None


def test_another_image_or_no_frame_is_converted() -> None:
    ticket, tensor = _ticket_with_input()
    assert unchanged_picture(ticket, tensor.clone()) is None
    assert unchanged_picture(ticket, 1.0 - tensor) is None
    ticket.frame = None
    assert unchanged_picture(ticket, tensor) is None


def test_inside_inference_mode_the_image_still_tracks_in_place_changes() -> None:
    """ComfyUI runs nodes under torch.inference_mode(), whose tensors have no version counter."""
    with torch.inference_mode():
        ticket, tensor = _ticket_with_input()
        assert ticket.image_version >= 0
        assert unchanged_picture(ticket, tensor) is not None
        tensor[0].add_(0.1)  # in place, through a view
        assert unchanged_picture(ticket, tensor) is None


def test_a_tensor_without_version_counter_is_converted() -> None:
    ticket, _ = _ticket_with_input()
    with torch.inference_mode():
        inference = torch.zeros(1, 16, 24, 3)
    remember_image(ticket, inference)
    assert ticket.image_version == -1
    assert unchanged_picture(ticket, inference) is None


def test_frame_pictures_hand_each_frame_its_own_picture() -> None:
    """A plan where no node but TrickleOutput reads the IMAGE passes the frames' own pictures on
    (``FramePictures``): each ticket gets its own, only for exactly the tickets it was made for."""
    first, _ = _ticket_with_input()
    second, _ = _ticket_with_input()
    assert first.frame is not None and second.frame is not None
    second.frame = VideoFrame(255 - second.frame.image, 12000, 4)
    both = FramePictures((first, second))
    pictures = both.pictures_for([first, second])
    assert pictures is not None
    assert pictures[0] is first.frame.image and pictures[1] is second.frame.image
    assert both.pictures_for([second, first]) is None  # another order: not these frames
    assert both.pictures_for([first]) is None  # another batch size
    assert FramePictures((first,)).pictures_for([first]) == [first.frame.image]
    first.frame = None
    assert both.pictures_for([first, second]) is None  # a frame gone: nothing to deliver
