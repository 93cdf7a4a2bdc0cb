#!/usr/bin/env bash
# Start N live runners on one machine, one per GPU, each registering itself with one orchestrator.
#
#   bash scripts/run-runners.sh N ORCH_URL            # N ComfyUIs (COMFYUI_PATH, its python)
#   RUNNER=standalone bash scripts/run-runners.sh N ORCH_URL   # N `python -m trickle runner`s
#
# The orchestrator secret comes from TRICKLE_LR_ORCH_SECRET (never from the command line, where
# `ps` would show it). Runner i gets CUDA_VISIBLE_DEVICES=i, ComfyUI port BASE_PORT+i (default
# 8188), live-runner port LR_BASE_PORT+i (default 8991), label trickle-live-i, and a log in
# LOG_DIR/runner-i.log (default ./logs). Set TRICKLE_LR_HOST=0.0.0.0 and TRICKLE_LR_RUNNER_URL
# per runner when the orchestrator is on another machine (RUNNER_URL_TEMPLATE, with {port}).
# Ctrl-C or SIGTERM stops them all with SIGTERM, so each releases its sessions and unregisters.
set -euo pipefail
N=${1:?usage: run-runners.sh N ORCH_URL}
ORCH=${2:?usage: run-runners.sh N ORCH_URL}
[ -n "${TRICKLE_LR_ORCH_SECRET:-}" ] || { echo "set TRICKLE_LR_ORCH_SECRET (the O's -orchSecret)" >&2; exit 2; }
PACK=$(cd "$(dirname "$0")/.." && pwd)
RUNNER=${RUNNER:-comfyui}
BASE_PORT=${BASE_PORT:-8188}
LR_BASE_PORT=${LR_BASE_PORT:-8991}
LOG_DIR=${LOG_DIR:-logs}
mkdir -p "$LOG_DIR"
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap stop_all EXIT INT TERM

for ((i = 0; i < N; i++)); do
  port=$((BASE_PORT + i)) lr_port=$((LR_BASE_PORT + i))
  export CUDA_VISIBLE_DEVICES=$i TRICKLE_LR_PORT=$lr_port TRICKLE_LR_ORCH_URL=$ORCH
  export TRICKLE_LR_LABEL="trickle-live-$i"
  if [ -n "${RUNNER_URL_TEMPLATE:-}" ]; then
    export TRICKLE_LR_RUNNER_URL=${RUNNER_URL_TEMPLATE//\{port\}/$lr_port}
  fi
  if [ "$RUNNER" = standalone ]; then
    (cd "$PACK" && exec "${PYTHON:-$PACK/.venv/bin/python}" -m trickle runner --port "$port" \
      --live-runner-port "$lr_port" --processor "${PROCESSOR:-invert}") >"$LOG_DIR/runner-$i.log" 2>&1 &
  else
    COMFY=${COMFYUI_PATH:?set COMFYUI_PATH to the ComfyUI tree (this pack in its custom_nodes)}
    (cd "$COMFY" && exec "${PYTHON:-$COMFY/venv/bin/python}" main.py --listen 127.0.0.1 \
      --port "$port") >"$LOG_DIR/runner-$i.log" 2>&1 &
  fi
  pids+=($!)
  echo "runner $i: pid $! port $port live-runner port $lr_port (GPU $i) log $LOG_DIR/runner-$i.log"
done
wait -n "${pids[@]}" || true
echo "a runner exited; stopping the others" >&2
