"""Child process of compare.py: the bare transcode (``transcode.bench_pipeline`` with PyAV alone,
``_bare.BareTranscode``) of one clip.

Usage: _floor.py CLIP_FILE FPS paced|fast THREADS  → one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transcode import bench_pipeline  # noqa: E402


def main() -> int:
    clip = Path(sys.argv[1]).read_bytes()
    fps, paced, threads = float(sys.argv[2]), sys.argv[3] == "paced", int(sys.argv[4])
    result = bench_pipeline(clip, fps, paced=paced, threads=threads, bare=True)
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
