#!/usr/bin/env bash
# The test command (README, .ci/run): the suite in two phases, any pytest arguments passed to both.
#   1. everything but the browser tests on two workers (pytest-xdist, one test file per worker at
#      a time, so a module's ComfyUI boots once);
#   2. the browser tests (those using the `browser_page` fixture: headless Chromium driving the
#      editor panel of a real ComfyUI) in one process, alone on the machine: a browser rendering
#      next to another worker's model loads missed 30 s timeouts on the 2-core CI box.
# Exit status: the first failing phase's; 5 (no tests collected) only when neither phase ran a test.
set -u
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -n 2 --dist loadfile -m "not browser" "$@"
first=$?
.venv/bin/python -m pytest -m browser "$@"
second=$?
if [ "$first" = 5 ] && [ "$second" = 5 ]; then exit 5; fi
for rc in "$first" "$second"; do
  if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then exit "$rc"; fi
done
exit 0
