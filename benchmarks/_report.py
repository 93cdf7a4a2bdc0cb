"""The comparison table (markdown, with ratios) and the plot (PNG, matplotlib if installed)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

SYSTEMS = ("floor", "trickle-live", "pytrickle")
EXTRAS = {  # context columns, shown when run (--systems)
    "runner": "trickle-live runner without ComfyUI",
    "transcode": "bare transcode in process (no I/O)",
}
ROWS = [  # (key, label, format, higher is better)
    ("fps", "throughput, fed as fast as possible (frames/s)", "{:.0f}", True),
    ("latency_ms_p50", "added latency at 30 fps, p50 (ms)", "{:.1f}", False),
    ("latency_ms_p95", "added latency at 30 fps, p95 (ms)", "{:.1f}", False),
    ("cpu_ms_per_frame", "CPU per frame at 30 fps (ms)", "{:.2f}", False),
    ("cpu_ms_per_frame_fast", "CPU per frame, as fast as possible (ms)", "{:.2f}", False),
    ("peak_rss_mb", "peak RSS (MB)", "{:.0f}", False),
    ("rss_growth_mb", "RSS growth over the paced run (MB)", "{:+.1f}", False),
    ("dropped_fast", "frames dropped, as fast as possible", "{:.0f}", False),
]


def _fmt(fmt: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)


def _ratio(a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return "–"
    if math.isnan(a) or math.isnan(b):
        return "–"
    return f"{a / b:.2f}"


def table(figures: dict[str, dict[str, Any]]) -> str:
    """``figures[system][key]``; systems missing from the run show as –."""
    extras = [s for s in EXTRAS if s in figures]
    head = (
        "| | floor: bare transcode via trickle | trickle-live in ComfyUI | pytrickle "
        "| ours / floor | ours / pytrickle |" + "".join(f" {EXTRAS[s]} |" for s in extras)
    )
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * len(extras)]
    for key, label, fmt, _ in ROWS:
        cells = [_fmt(fmt, figures.get(s, {}).get(key)) for s in SYSTEMS]
        ours = figures.get("trickle-live", {}).get(key)
        ratios = [_ratio(ours, figures.get(s, {}).get(key)) for s in ("floor", "pytrickle")]
        if key in ("dropped_fast", "rss_growth_mb"):
            ratios = ["", ""]
        more = [_fmt(fmt, figures[s].get(key)) for s in extras]
        lines.append(f"| {label} | " + " | ".join(cells + ratios + more) + " |")
    return "\n".join(lines)


def targets(figures: dict[str, dict[str, Any]], long_run: bool) -> list[str]:
    ours = figures.get("trickle-live", {})
    floor = figures.get("floor", {}).get("fps")
    peer = figures.get("pytrickle", {}).get("fps")
    fps = ours.get("fps")
    checks = []
    if fps and floor:
        checks.append(
            _check("throughput ≥ 85% of the floor", fps / floor >= 0.85, f"{fps / floor:.0%}")
        )
    if fps and peer:
        checks.append(
            _check("throughput ≥ 1.5× pytrickle", fps / peer >= 1.5, f"{fps / peer:.2f}×")
        )
    p50 = ours.get("latency_ms_p50")
    if p50 is not None:
        checks.append(_check("added latency p50 ≤ 60 ms", p50 <= 60, f"{p50:.1f} ms"))
    growth = ours.get("rss_growth_mb")
    if growth is not None:
        what = "RSS growth ≤ 20 MB over 10 min" if long_run else "RSS growth ≤ 20 MB (short run)"
        checks.append(_check(what, growth <= 20, f"{growth:+.1f} MB"))
    return checks


def paired(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Throughput ratios round by round (the systems of one round share the same minute of the
    box), next to the best-of-rounds verdict above."""
    ours = [r.get("fps") for r in runs.get("trickle-live", [])]
    lines = []
    for name, label in (("floor", "ours / floor"), ("pytrickle", "ours / pytrickle")):
        theirs = [r.get("fps") for r in runs.get(name, [])]
        ratios = [a / b for a, b in zip(ours, theirs, strict=False) if a and b]
        if ratios:
            values = " ".join(f"{r:.2f}" for r in ratios)
            lines.append(f"per round {label}: {values} (median {statistics.median(ratios):.2f})")
    return lines


def _check(what: str, ok: bool, value: str) -> str:
    return f"{'met   ' if ok else 'MISSED'} {what}: {value}"


def plot(figures: dict[str, dict[str, Any]], path: Path, title: str) -> bool:
    """Four bar charts side by side; False (nothing written) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [s for s in (*SYSTEMS, *EXTRAS) if s in figures]
    colours = {"floor": "#888888", "trickle-live": "#2b7bba", "pytrickle": "#e08a2c",
               "runner": "#7fb3d9", "transcode": "#bbbbbb"}  # fmt: skip
    panels = [
        ("fps", "throughput (frames/s) ↑"),
        ("latency_ms_p50", "added latency p50 / p95 (ms) ↓"),
        ("cpu_ms_per_frame", "CPU ms per frame at 30 fps ↓"),
        ("peak_rss_mb", "peak RSS (MB) ↓"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    for ax, (key, label) in zip(axes, panels, strict=True):
        values = [figures[s].get(key) or 0.0 for s in names]
        bars = ax.bar(names, values, color=[colours[s] for s in names])
        if key == "latency_ms_p50":
            p95 = [figures[s].get("latency_ms_p95") or 0.0 for s in names]
            ax.scatter(names, p95, marker="_", s=400, color="black", zorder=3, label="p95")
            ax.set_ylim(0, max([*p95, *values, 1.0]) * 1.15)
            ax.legend(loc="upper left", fontsize=8)
        inside = key == "latency_ms_p50"  # the p95 markers sit just above the bars
        ax.bar_label(bars, fmt="%.1f", fontsize=8, label_type="center" if inside else "edge")
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
