"""Frame ↔ ComfyUI IMAGE conversion, at the one place it costs something.

A stream frame is ``uint8`` RGB ``(H, W, 3)`` (see ``trickle/media/frames.py``); a ComfyUI IMAGE is
a ``float32`` tensor ``[B, H, W, 3]`` in 0..1 (channel-last). Going in, ``torch.from_numpy`` shares
the frame's memory and the only copy is the unavoidable uint8 → float32 one (done in place on the
new tensor). Going out, the result is scaled, rounded and cast in one pass, and ``.numpy()`` shares
the uint8 tensor's memory (zero-copy on the CPU).
"""

from __future__ import annotations

import numpy as np
import torch


def frame_to_image(rgb: np.ndarray) -> torch.Tensor:
    """``uint8 (H, W, 3)`` → ``float32 [1, H, W, 3]`` in 0..1."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"frame: expected uint8 (H, W, 3), received {rgb.dtype} {rgb.shape}")
    source = torch.from_numpy(np.ascontiguousarray(rgb))
    image = source.to(torch.float32)
    image.mul_(1.0 / 255.0)
    return image.unsqueeze(0)


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
    if picture.shape[-1] == 1:
        picture = picture.expand(-1, -1, 3)
    elif picture.shape[-1] == 4:
        picture = picture[..., :3]
    scaled = picture.to(torch.float32).mul(255.0).add_(0.5).clamp_(0.0, 255.0)
    out = scaled.to(device="cpu", dtype=torch.uint8)
    return np.ascontiguousarray(out.numpy())
