"""Frame ↔ ComfyUI IMAGE conversion, at the one place it costs something.

A stream frame is ``uint8`` RGB ``(H, W, 3)`` (see ``trickle/media/frames.py``); a ComfyUI IMAGE is
a ``float32`` tensor ``[B, H, W, 3]`` in 0..1 (channel-last). On the CPU both directions run in
numpy and share memory with torch (``torch.from_numpy`` / ``Tensor.numpy()``): one pass, one new
buffer each way. Measured on the 2-core CI box at 512×512, torch's own uint8↔float casts took
2–11 ms per frame (threaded element-wise casts), numpy's 0.4–0.7 ms (docs/comfyui.md). A GPU
IMAGE is scaled and cast on the GPU, and only the uint8 picture is copied back.
"""

from __future__ import annotations

import numpy as np
import torch

_SCALE_IN = np.float32(1.0 / 255.0)


def frame_to_image(rgb: np.ndarray) -> torch.Tensor:
    """``uint8 (H, W, 3)`` → ``float32 [1, H, W, 3]`` in 0..1.

    A normal tensor even inside ComfyUI's ``torch.inference_mode()``: its version counter then
    records in-place changes, which lets ``TrickleOutput`` recognise an untouched picture."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"frame: expected uint8 (H, W, 3), received {rgb.dtype} {rgb.shape}")
    values = rgb.astype(np.float32)  # then scaled in place: 0.11 ms vs 0.16 ms for one multiply
    values *= _SCALE_IN
    with torch.inference_mode(False):
        return torch.from_numpy(values).unsqueeze(0)


def frames_to_image(pictures: list[np.ndarray]) -> torch.Tensor:
    """Several ``uint8 (H, W, 3)`` pictures of one size → one ``float32 [B, H, W, 3]`` batch in
    0..1 (a batch of waiting frames, ``nodes/batch.py``); as :func:`frame_to_image` per picture."""
    if len(pictures) == 1:
        return frame_to_image(pictures[0])
    shapes = {(p.dtype, p.shape) for p in pictures}
    if len(shapes) != 1 or pictures[0].dtype != np.uint8 or pictures[0].ndim != 3:
        raise ValueError(f"frames: expected uint8 (H, W, 3) of one size, received {shapes}")
    values = np.stack(pictures).astype(np.float32)
    values *= _SCALE_IN
    with torch.inference_mode(False):
        return torch.from_numpy(values)


def image_to_frame(image: torch.Tensor, index: int = -1) -> np.ndarray:
    """One picture of an IMAGE batch → ``uint8 (H, W, 3)`` C-contiguous.

    ``index`` picks the picture of a batch (default: the last one). Grey (C=1) is repeated to RGB,
    an alpha channel (C=4) is dropped. Values outside 0..1 are clamped.
    """
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4 or image.shape[0] == 0 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"image: expected [B, H, W, 1|3|4], received {tuple(image.shape)}")
    picture = image[index].detach()
    if picture.device.type != "cpu":
        scaled = picture.float().mul(255.0).add_(0.5).clamp_(0.0, 255.0)
        picture_u8 = scaled.to(torch.uint8).cpu().numpy()
    else:
        values = picture.float().numpy()
        buf = np.multiply(values, np.float32(255.0), dtype=np.float32)
        buf += np.float32(0.5)
        np.clip(buf, 0.0, 255.0, out=buf)
        picture_u8 = buf.astype(np.uint8)
    if picture_u8.shape[-1] == 1:
        picture_u8 = np.repeat(picture_u8, 3, axis=-1)
    elif picture_u8.shape[-1] == 4:
        picture_u8 = picture_u8[..., :3]
    return np.ascontiguousarray(picture_u8)
