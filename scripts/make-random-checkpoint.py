"""Write a checkpoint of the exact SD 1.5 or SD 2.1 (Turbo) layout with RANDOM weights.

No weights can be downloaded on a test machine, but the architecture can be built: ComfyUI's own
model classes (``comfy.supported_models`` + ``comfy.model_base`` for the UNet,
``comfy.sd1_clip`` / ``comfy.text_encoders.sd2_clip`` for the text encoder, the SD VAE of
``comfy.ldm.models.autoencoder``) are instantiated, every tensor is filled from a seeded generator,
and ComfyUI's own ``state_dict_for_saving`` lays the keys out as a real checkpoint. ComfyUI's stock
``CheckpointLoaderSimple`` loads and detects the file like the real one (same keys, shapes and
dtypes: the same compute and memory), but the pictures it draws are noise.

Run it with ComfyUI's Python (it imports ``comfy``)::

    /path/to/ComfyUI/venv/bin/python scripts/make-random-checkpoint.py \\
        --comfyui /path/to/ComfyUI --arch sd21-turbo --seed 0 \\
        --out /path/to/ComfyUI/models/checkpoints/sd_turbo.safetensors

``--arch``: ``sd21-turbo`` (SD 2.1 layout: OpenCLIP ViT-H text encoder, what stabilityai/sd-turbo
ships; ε-prediction) or ``sd15`` (SD 1.5: CLIP ViT-L). fp16 by default (``--dtype fp32`` for
fp32). The same arch, seed and dtype give the same bytes. The file's safetensors metadata says
``trickle_live.random_weights: true``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any

log = logging.getLogger("make-random-checkpoint")

ARCHS = ("sd21-turbo", "sd15")
FORMAT_VERSION = "1"  # bump when the fill changes, so caches keyed by it are rebuilt


def _import_comfy(comfyui: Path) -> None:
    if not (comfyui / "comfy" / "model_base.py").is_file():
        raise SystemExit(f"not a ComfyUI tree: {comfyui} (no comfy/model_base.py)")
    sys.path.insert(0, str(comfyui))
    os.chdir(comfyui)  # some ComfyUI modules resolve files relative to the tree
    import comfy.cli_args

    comfy.cli_args.args.cpu = True  # built and filled on the CPU, whatever the machine has


def _unet_config(arch: str) -> dict[str, Any]:
    """The full UNet config ComfyUI derives from a real checkpoint of that architecture
    (``comfy.model_detection.unet_config_from_diffusers_unet`` lists the same)."""
    base = {
        "use_checkpoint": False, "image_size": 32, "out_channels": 4,
        "use_spatial_transformer": True, "legacy": False, "adm_in_channels": None,
        "in_channels": 4, "model_channels": 320, "num_res_blocks": [2, 2, 2, 2],
        "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 2, 4, 4],
        "transformer_depth_middle": 1, "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
        "use_temporal_attention": False, "use_temporal_resblock": False,
    }  # fmt: skip
    if arch == "sd15":
        return {**base, "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8,
                "num_head_channels": -1}  # fmt: skip
    return {**base, "use_linear_in_transformer": True, "context_dim": 1024, "num_heads": -1,
            "num_head_channels": 64}  # fmt: skip


def _fill(state: dict[str, Any], seed: int, dtype: Any) -> dict[str, Any]:
    """Deterministic values per key (independent of order): matrices ~ N(0, 1/fan_in), so
    activations stay bounded in fp16; norm scales 1, biases 0 (which also keeps SD 2.x's
    v-prediction heuristic — std of a norm bias — at ε, like sd-turbo); embeddings N(0, 0.02)."""
    import torch

    out: dict[str, Any] = {}
    for key in sorted(state):
        ref = state[key]
        if not torch.is_floating_point(ref):
            out[key] = ref.clone()
            continue
        gen = torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(key.encode())) % 2**63)
        name = key.rsplit(".", 1)[-1]
        if "position_ids" in key:
            out[key] = ref.clone()
        elif ref.ndim <= 1 and name == "bias":
            out[key] = torch.zeros(ref.shape, dtype=dtype)
        elif ref.ndim <= 1 and ("norm" in key or "ln_" in key or "layer_norm" in key):
            out[key] = torch.ones(ref.shape, dtype=dtype)
        elif "embedding" in key or ref.ndim <= 1:
            out[key] = (torch.randn(ref.shape, generator=gen) * 0.02).to(dtype)
        else:
            fan_in = math.prod(ref.shape[1:])
            std = 1.0 / math.sqrt(max(fan_in, 1))
            out[key] = (torch.randn(ref.shape, generator=gen) * std).to(dtype)
    return out


def build(arch: str, seed: int, dtype_name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The checkpoint's tensors (keys as in a real file) and its metadata."""
    import comfy.model_detection
    import comfy.supported_models
    import torch
    from comfy.ldm.models.autoencoder import AutoencoderKL

    dtype = torch.float16 if dtype_name == "fp16" else torch.float32
    unet_config = _unet_config(arch)
    model_config = comfy.model_detection.model_config_from_unet_config(dict(unet_config))
    want = comfy.supported_models.SD15 if arch == "sd15" else comfy.supported_models.SD20
    if model_config is None or type(model_config) is not want:
        raise SystemExit(f"ComfyUI detected {type(model_config).__name__} for {arch}")
    model_config.set_inference_dtype(dtype, None)
    model = model_config.get_model({})  # ComfyUI's BaseModel: the UNet built by its own ops
    clip = model_config.clip_target().clip(device="cpu", dtype=dtype)
    ddconfig = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3,
                "out_ch": 3, "ch": 128, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2,
                "attn_resolutions": [], "dropout": 0.0}  # fmt: skip
    vae = AutoencoderKL(ddconfig=ddconfig, embed_dim=4)
    unet_sd = _fill(model.diffusion_model.state_dict(), seed, dtype)
    model.diffusion_model.load_state_dict(unet_sd, assign=True)
    clip_sd = _fill(clip.state_dict(), seed + 1, dtype)
    vae_sd = _fill(vae.state_dict(), seed + 2, dtype)
    state = model.state_dict_for_saving(clip_sd, vae_sd)
    state = {k: v.contiguous() for k, v in state.items()}
    metadata = {
        "trickle_live.random_weights": "true",
        "trickle_live.arch": arch,
        "trickle_live.seed": str(seed),
        "trickle_live.format": FORMAT_VERSION,
        "trickle_live.note": "random weights for tests and benchmarks: draws noise",
    }
    return state, metadata


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfyui", type=Path, default=Path(os.environ.get("COMFYUI_PATH", ".")))
    parser.add_argument("--arch", choices=ARCHS, default="sd21-turbo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=("fp16", "fp32"), default="fp16")
    parser.add_argument("--out", type=Path, required=True, help="the .safetensors to write")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    _import_comfy(args.comfyui.resolve())
    import comfy.utils
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    began = time.monotonic()
    state, metadata = build(args.arch, args.seed, args.dtype)
    params = sum(t.numel() for t in state.values())
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + f".partial-{os.getpid()}")
    comfy.utils.save_torch_file(state, str(partial), metadata=metadata)
    partial.replace(out)  # readers never see a half-written file
    log.info(
        "wrote %s: RANDOM WEIGHTS (arch %s, seed %d, %s; %d tensors, %.0fM parameters, %.2f GB) "
        "in %.1fs — same layout, compute and memory as the real model, but it draws noise",
        out, args.arch, args.seed, args.dtype, len(state), params / 1e6,
        out.stat().st_size / 1e9, time.monotonic() - began,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
