"""IMAGE → frame conversion when a workflow's output lives on a GPU (skipped without CUDA).

GPU workflows (diffusion img2img) hand ``TrickleOutput`` a CUDA tensor: it must be scaled and cast
on the device and only the uint8 picture copied back, with the same rounding as the CPU path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from trickle_live.nodes.convert import frame_to_image, image_to_frame

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _rgb(h: int = 48, w: int = 64, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_cuda_image_converts_exactly_like_the_cpu_path() -> None:
    image = torch.rand(2, 48, 64, 3)
    on_cpu = image_to_frame(image)
    on_gpu = image_to_frame(image.cuda())
    assert on_gpu.dtype == np.uint8 and on_gpu.flags.c_contiguous
    assert np.array_equal(on_gpu, on_cpu)


def test_round_trip_through_a_gpu_effect() -> None:
    rgb = _rgb()
    image = frame_to_image(rgb).cuda()
    inverted = 1.0 - image  # an effect node running on the GPU
    out = image_to_frame(inverted)
    assert np.abs(out.astype(np.int16) - (255 - rgb.astype(np.int16))).max() <= 1


def test_cuda_half_precision_grey_and_alpha_pictures() -> None:
    grey = torch.full((1, 8, 8, 1), 0.5, device="cuda", dtype=torch.float16)
    assert image_to_frame(grey).shape == (8, 8, 3) and int(image_to_frame(grey)[0, 0, 0]) == 128
    rgba = torch.zeros((1, 8, 8, 4), device="cuda")
    rgba[..., 3] = 1.0
    assert image_to_frame(rgba).shape == (8, 8, 3) and image_to_frame(rgba).max() == 0


def test_out_of_range_values_are_clamped_on_the_gpu() -> None:
    image = torch.tensor([[[[-0.5, 0.5, 1.5]]]], device="cuda")
    assert image_to_frame(image).tolist() == [[[0, 128, 255]]]
