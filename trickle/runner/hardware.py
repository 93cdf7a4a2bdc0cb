"""GPU facts for ``/hardware/info`` and ``/hardware/stats`` in ai-runner's shapes, without torch.

Read from ``nvidia-smi`` when it exists (bounded by a timeout, off the event loop); an empty map
on a machine without NVIDIA GPUs. Shapes (docs/runner.md):
``gpu_info``: ``{"<id>": {"id", "name", "major", "minor", "memory_total", "memory_free"}}``;
``gpu_stats``: ``{"<id>": {"id", "name", "memory_total", "memory_free", "utilization_compute",
"utilization_memory"}}`` (memory in bytes, utilization in percent).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from typing import Any

log = logging.getLogger(__name__)

QUERY = "index,name,memory.total,memory.free,utilization.gpu,utilization.memory,compute_cap"
MIB = 1024 * 1024


def _query(timeout: float) -> list[list[str]]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("nvidia-smi failed: %s", exc)
        return []
    return [[part.strip() for part in line.split(",")] for line in out.splitlines() if line.strip()]


def _int(text: str, scale: int = 1) -> int:
    try:
        return int(float(text)) * scale
    except ValueError:
        return 0


def parse_rows(rows: list[list[str]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(gpu_info, gpu_stats) from nvidia-smi rows."""
    info: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    for row in rows:
        if len(row) < 7:
            continue
        index, name, total, free, util, util_mem, cap = row[:7]
        major, _, minor = cap.partition(".")
        common = {
            "id": _int(index),
            "name": name,
            "memory_total": _int(total, MIB),
            "memory_free": _int(free, MIB),
        }
        info[index] = {**common, "major": _int(major), "minor": _int(minor)}
        stats[index] = {
            **common,
            "utilization_compute": _int(util),
            "utilization_memory": _int(util_mem),
        }
    return info, stats


class HardwareProbe:
    def __init__(self, timeout: float = 3.0) -> None:
        self.timeout = timeout
        self._info: dict[str, Any] | None = None

    async def read(self) -> tuple[dict[str, Any], dict[str, Any]]:
        rows = await asyncio.get_running_loop().run_in_executor(None, _query, self.timeout)
        return parse_rows(rows)

    async def info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = (await self.read())[0]
        return self._info

    async def stats(self) -> dict[str, Any]:
        return (await self.read())[1]
