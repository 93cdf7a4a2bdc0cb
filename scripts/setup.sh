#!/usr/bin/env bash
# Creates the project's virtual environments from scratch where missing.
#   bash scripts/setup.sh          runtime only (.venv): enough for `python -m trickle demo|runner|serve`
#   bash scripts/setup.sh --dev    + test tools, CPU torch 2.13.0, and pytrickle in its own
#                                  environment (.venv-pytrickle: it pins av<=14.4, whose newest wheel here is
#                                  14.2.0, and needs torch), and livepeer-gateway in .venv-lpgw
#                                  (Python 3.12) when a 3.12 interpreter exists, and .venv-avmin: the
#                                  oldest aiohttp/av/numpy requirements.txt allows (tests/deps)
# Idempotent: an existing environment is reused and brought up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
dev=0
for a in "$@"; do case "$a" in --dev) dev=1 ;; *) echo "unknown option: $a" >&2; exit 2 ;; esac; done

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
if [ "$dev" = 1 ]; then
  # The four environments are independent: built side by side (pip waits on disk and network as
  # much as on the CPU), each with its own log; any failure fails the setup, naming the log.
  logs=$(mktemp -d)
  pids=()
  job() { local name=$1; shift; ("$@") >"$logs/$name.log" 2>&1 & pids+=("$!:$name"); }
  dev_tools() {
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt torch==2.13.0
  }
  # the oldest supported versions (requirements.txt's floors, pinned) for tests/deps: CI runs
  # the media, protocol and HTTP-error tests on them as well as on the newest in .venv
  avmin() {
    [ -x .venv-avmin/bin/python ] || "$PY" -m venv .venv-avmin
    .venv-avmin/bin/python -m pip install -q --disable-pip-version-check \
      $(sed -n 's/^\([A-Za-z0-9_.-]*\)>=/\1==/p' requirements.txt) \
      $(grep -E '^(pytest|pytest-asyncio|pytest-timeout|trustme)>=' requirements-dev.txt)
  }
  pytrickle_env() {
    [ -x .venv-pytrickle/bin/python ] || "$PY" -m venv .venv-pytrickle
    .venv-pytrickle/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0 av==14.2.0 pytrickle==0.1.6
  }
  # livepeer-gateway (the SDK, Python >= 3.12) drives the live-runner app in an interop test
  PY312=""
  for c in ${PYTHON312:-} "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python python3.12 python3.13; do
    if "$c" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then PY312=$c; break; fi
  done
  lpgw() {
    [ -x .venv-lpgw/bin/python ] || "$PY312" -m venv .venv-lpgw
    .venv-lpgw/bin/python -m pip install -q --disable-pip-version-check livepeer-gateway==1.0.0 numpy
  }
  job dev-tools dev_tools
  job avmin avmin
  job pytrickle pytrickle_env
  if [ -n "$PY312" ]; then
    job lpgw lpgw
  else
    echo "no Python 3.12: the livepeer-gateway interop test will be skipped" >&2
  fi
  failed=0
  for entry in "${pids[@]}"; do
    if ! wait "${entry%%:*}"; then
      failed=1
      echo "setup of ${entry#*:} failed:" >&2
      grep -v "^WARNING: Location" "$logs/${entry#*:}.log" | tail -20 >&2
    fi
  done
  rm -rf "$logs"
  [ "$failed" = 0 ] || exit 1
fi
echo "setup done: $(.venv/bin/python --version)"
