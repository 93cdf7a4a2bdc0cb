#!/usr/bin/env bash
# The diffusion benchmark on a GPU: full-size SD 2.1-Turbo architecture (random weights, fp16
# checkpoint), 512x512, 1 step, ComfyUI without --cpu. Prepared for a GPU machine; NOT RUN YET
# (no GPU was lent when it was written; docs/performance.md says so).
#   COMFYUI_PATH=/path/to/ComfyUI bash scripts/gpu-diffusion-check.sh [OUT.json]
# Needs: a ComfyUI tree whose venv has a CUDA torch (scripts/setup-comfyui.sh installs torch
# 2.9.1, which is CUDA-enabled on Linux x86_64), this repo's .venv (scripts/setup.sh), and
# nvidia-smi. Makes the checkpoint if the cache has none (about a minute), then prints the card,
# the floor, the stream's fps and latency, GPU memory after the floor and after the stream, and
# the floor ratio. It runs the CUDA conversion tests first (tests/nodes/test_nodes_cuda.py).
# BATCH=off,2 also compares batching of waiting frames (TRICKLE_BATCH; a second ComfyUI start,
# the throughput phase fed at 30 fps so frames queue); the default BATCH=off measures without.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMFY=${COMFYUI_PATH:?set COMFYUI_PATH to a ComfyUI tree}
OUT=${1:-/tmp/trickle-gpu-diffusion.json}
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=$(command -v python3)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$COMFY/venv/bin/python" -c 'import torch; assert torch.cuda.is_available(), "no CUDA torch"; print("torch", torch.__version__, torch.cuda.get_device_name())'
(cd "$ROOT" && "$PY" -m pytest tests/nodes/test_nodes_cuda.py -q)
timeout 540 "$PY" "$ROOT/benchmarks/diffusion.py" --comfyui "$COMFY" --gpu --size 512 --steps 1 \
  --floor-prompts 30 --latency-frames 20 --seconds 30 --batch "${BATCH:-off}" \
  ${BATCH:+--feed-fps 30} --json "$OUT"
echo "figures: $OUT"
