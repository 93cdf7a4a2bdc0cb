#!/usr/bin/env bash
# Prepares a ComfyUI source tree for the integration tests and the real-ComfyUI demo:
#   bash scripts/setup-comfyui.sh /path/to/ComfyUI
# Creates <ComfyUI>/venv (Python 3.11) with torch 2.14.1 + torchvision 0.29.1 (CPU works; see
# docs/comfyui.md), ComfyUI's requirements without its torch lines, `requests` (imported at start-up
# but not listed), this pack's requirements, and ComfyUI-Manager (its manager_requirements.txt; inert
# unless ComfyUI starts with --enable-manager, which the Manager install test does). Idempotent; a
# marker file skips finished work.
# torchaudio (ComfyUI's audio nodes import it) must be the release of the installed torch
# (torchaudio X.Y.Z goes with torch X.Y.Z, never another): each run installs it if that release
# is on the package index, else says in one line that ComfyUI will print three IMPORT FAILED
# tracebacks for its audio nodes (this pack does not use them) and tries again next run.
set -euo pipefail
COMFY=${1:?usage: setup-comfyui.sh /path/to/ComfyUI}
PACK=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -f "$COMFY/main.py" ] || { echo "not a ComfyUI tree: $COMFY (no main.py)" >&2; exit 2; }
VENV="$COMFY/venv"
marker="$VENV/.trickle-live-ready"
MANAGER_REQ="$COMFY/manager_requirements.txt"
[ -f "$MANAGER_REQ" ] || MANAGER_REQ=""
want="torch==2.14.1 torchvision==0.29.1 $(sha1sum "$COMFY/requirements.txt" "$PACK/requirements.txt" $MANAGER_REQ | cut -c1-12 | tr '\n' ' ')"
torchaudio() {
  local torch
  "$VENV/bin/python" -c 'import torchaudio' 2>/dev/null && return 0
  torch=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])') || return 0
  if "$VENV/bin/python" -m pip install -q --disable-pip-version-check "torchaudio==$torch" >/dev/null 2>&1; then
    echo "torchaudio $torch installed (matches torch $torch)"
  else
    echo "torchaudio: no torchaudio==$torch (the release that matches torch $torch) on the package index;" \
      "ComfyUI will print IMPORT FAILED for nodes_audio.py, nodes_lt_audio.py and nodes_audio_encoder.py" \
      "(its audio nodes, unused by this pack). Rerun this script once it is published."
  fi
}
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then torchaudio; echo "ComfyUI venv ready: $VENV"; exit 0; fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@"; }
pip torch==2.14.1 torchvision==0.29.1
grep -v -E '^(torch|torchvision|torchaudio)([<>=].*)?$' "$COMFY/requirements.txt" > "$VENV/requirements-notorch.txt"
pip -r "$VENV/requirements-notorch.txt" requests -r "$PACK/requirements.txt"
if [ -n "$MANAGER_REQ" ]; then pip -r "$MANAGER_REQ"; fi
torchaudio
echo "$want" > "$marker"
echo "ComfyUI venv ready: $VENV"
