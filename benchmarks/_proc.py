"""Process figures read from /proc (Linux): CPU seconds, resident memory, a periodic sampler.

No dependency (no psutil): ``/proc/<pid>/stat`` fields 14/15 (utime/stime, clock ticks) and
``/proc/<pid>/status`` ``VmRSS`` / ``VmHWM`` (kB).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int) -> float:
    """Highest resident memory so far (``VmHWM``), including start-up."""
    return _status_kb(pid, "VmHWM") / 1024


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


@dataclass
class ProcSampler:
    """Samples a process's RSS and CPU seconds every ``interval`` seconds on the event loop
    (owned by the caller: ``start`` then ``await stop()``)."""

    pid: int
    interval: float = 0.25
    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, RSS MB)
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, CPU seconds)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"proc {self.pid}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._sample()

    def _sample(self) -> None:
        try:
            now = time.monotonic()
            self.samples.append((now, rss_mb(self.pid)))
            self.cpu.append((now, cpu_seconds(self.pid)))
        except OSError:
            pass

    def cpu_between(self, t0: float, t1: float) -> float:
        """CPU seconds used between two moments (nearest samples)."""

        def at(t: float) -> float:
            return min(self.cpu, key=lambda s: abs(s[0] - t))[1] if self.cpu else float("nan")

        return at(t1) - at(t0)

    def peak_mb(self) -> float:
        return max((mb for _, mb in self.samples), default=float("nan"))

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self.interval)

    def growth_mb(self, skip_s: float = 0.0) -> float:
        """RSS at the end minus RSS ``skip_s`` seconds after the first sample (warm-up excluded);
        the mean of the first and last few samples, so one allocator burst does not count."""
        if len(self.samples) < 2:
            return float("nan")
        first = self.samples[0][0] + skip_s
        kept = [mb for t, mb in self.samples if t >= first] or [self.samples[-1][1]]
        k = max(1, min(5, len(kept) // 4))
        return sum(kept[-k:]) / k - sum(kept[:k]) / k
