#!/usr/bin/env bash
# Prepares a ComfyUI source tree for the integration tests and the real-ComfyUI demo:
#   bash scripts/setup-comfyui.sh /path/to/ComfyUI
# Creates <ComfyUI>/venv (Python 3.11) with torch 2.9.1 + torchvision 0.24.1 + torchaudio 2.9.1 (one
# release line of all three, the one CI tests; CPU works, see docs/comfyui.md),
# ComfyUI's requirements without its torch lines, `requests` (imported at start-up but not listed),
# this pack's requirements, and ComfyUI-Manager (its manager_requirements.txt; inert unless ComfyUI
# starts with --enable-manager, which the Manager install test does). Idempotent; a marker file
# skips finished work.
# torchaudio is installed with the torch it belongs to (torchaudio X.Y.Z goes with torch X.Y.Z,
# never another): ComfyUI's audio nodes import it, and without it ComfyUI prints three IMPORT FAILED
# tracebacks at every start. The package index has no torchaudio for torch 2.12 and later, so the
# script pins a line that has all three; at the end it checks that the three import together and that the
# versions match, and stops with one line if they do not.
set -euo pipefail
COMFY=${1:?usage: setup-comfyui.sh /path/to/ComfyUI}
PACK=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -f "$COMFY/main.py" ] || { echo "not a ComfyUI tree: $COMFY (no main.py)" >&2; exit 2; }
VENV="$COMFY/venv"
marker="$VENV/.trickle-live-ready"
MANAGER_REQ="$COMFY/manager_requirements.txt"
[ -f "$MANAGER_REQ" ] || MANAGER_REQ=""
TORCH=2.9.1 TORCHVISION=0.24.1 TORCHAUDIO=2.9.1
want="torch==$TORCH torchvision==$TORCHVISION torchaudio==$TORCHAUDIO $(sha1sum "$COMFY/requirements.txt" "$PACK/requirements.txt" $MANAGER_REQ | cut -c1-12 | tr '\n' ' ')"
check_torch() {
  local got
  got=$("$VENV/bin/python" -c 'import torch, torchvision, torchaudio; print(torch.__version__.split("+")[0], torchvision.__version__.split("+")[0], torchaudio.__version__.split("+")[0])' 2>/dev/null) || {
    echo "setup-comfyui.sh: torch, torchvision and torchaudio do not import together in $VENV; remove $VENV and run again" >&2; exit 1; }
  [ "$got" = "$TORCH $TORCHVISION $TORCHAUDIO" ] || {
    echo "setup-comfyui.sh: $VENV has torch/torchvision/torchaudio $got, expected $TORCH $TORCHVISION $TORCHAUDIO; remove $VENV and run again" >&2; exit 1; }
}
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then check_torch; echo "ComfyUI venv ready: $VENV"; exit 0; fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@"; }
pip "torch==$TORCH" "torchvision==$TORCHVISION" "torchaudio==$TORCHAUDIO"
grep -v -E '^(torch|torchvision|torchaudio)([<>=].*)?$' "$COMFY/requirements.txt" > "$VENV/requirements-notorch.txt"
pip -r "$VENV/requirements-notorch.txt" requests -r "$PACK/requirements.txt"
if [ -n "$MANAGER_REQ" ]; then pip -r "$MANAGER_REQ"; fi
check_torch
echo "$want" > "$marker"
echo "ComfyUI venv ready: $VENV"
