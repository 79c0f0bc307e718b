"""A sweep's figures as PNG and SVG (matplotlib): one line per length x precision (or configuration).

- latency vs batch: per-token p50 (solid) with p99 (dotted), log-2 batch axis;
- throughput vs batch: aggregate tokens/s, with the ideal linear scaling from batch 1 dashed;
- latency-throughput frontier: each cell a point (tokens/s, per-token p50), labelled by its batch.
Works on plain rows (dicts with line, batch, p50_ms, p99_ms, tokens_per_s): no store, no torch.
Files go through the one writer (`profiler.export_target.write_file`): an existing file is never
replaced unless `force` says so, and never a link, device or FIFO.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

PLOTS = ("latency_vs_batch", "throughput_vs_batch", "frontier")
FORMATS = ("png", "svg")


def plot_files(directory: Path) -> list[Path]:
    return [directory / f"{name}.{fmt}" for name in PLOTS for fmt in FORMATS]


def write_plots(rows: Sequence[dict[str, Any]], directory: Path, *, title: str, axis: str = "batch",
                force: bool = False) -> list[Path]:
    """Draw the three plots from the measured rows; returns the files written."""
    import matplotlib

    from profiler.export_target import write_file  # the one writer: regular files only, temp file renamed

    matplotlib.use("Agg")  # files only: no display needed, none touched
    import matplotlib.pyplot as plt

    lines: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("tokens_per_s") and row.get("p50_ms"):
            lines.setdefault(row["line"], []).append(row)
    for cells in lines.values():
        cells.sort(key=lambda r: r["batch"])
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    figures = {"latency_vs_batch": _latency, "throughput_vs_batch": _throughput, "frontier": _frontier}
    for name in PLOTS:
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
        try:
            figures[name](ax, lines, axis)
            ax.set_title(f"{title}", fontsize=10)
            ax.grid(True, alpha=0.3)
            if lines:
                ax.legend(fontsize=8)
            fig.tight_layout()
            for fmt in FORMATS:
                # a fixed date keeps SVG output byte-stable between runs of the same figures
                metadata = {"Date": None} if fmt == "svg" else {}
                written.append(write_file(directory / f"{name}.{fmt}", lambda file, fmt=fmt, metadata=metadata:
                                          fig.savefig(file, format=fmt, metadata=metadata),
                                          force=force, hint="choose another folder"))
        finally:
            plt.close(fig)
    return written


def _batch_axis(ax, lines, axis: str) -> None:
    """Log-2 axis labelled with the batch sizes measured (1, 8, 32, 128), not powers of two."""
    from matplotlib.ticker import NullFormatter, NullLocator

    batches = sorted({c["batch"] for cells in lines.values() for c in cells})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    if batches:
        ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel(axis)


def _plain_numbers(axis) -> None:
    """A log axis read as 20, 50, 100 rather than 2x10^1: figures a reader copies into a report."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    # between decades only 2x and 5x are labelled: 6, 7, 8, 9 would crowd into the decade's label
    axis.set_minor_formatter(FuncFormatter(lambda value, _pos: f"{value:g}" if f"{value:g}"[0] in "25" else ""))


def _latency(ax, lines, axis: str) -> None:
    for line, cells in lines.items():
        batches = [c["batch"] for c in cells]
        (drawn,) = ax.plot(batches, [c["p50_ms"] for c in cells], marker="o", label=f"{line} p50")
        if all(c.get("p99_ms") for c in cells):
            ax.plot(batches, [c["p99_ms"] for c in cells], linestyle=":", color=drawn.get_color(), alpha=0.8)
    _batch_axis(ax, lines, axis)
    ax.set_ylabel("per-token latency, ms (p50 solid, p99 dotted)")


def _throughput(ax, lines, axis: str) -> None:
    for line, cells in lines.items():
        batches = [c["batch"] for c in cells]
        (drawn,) = ax.plot(batches, [c["tokens_per_s"] for c in cells], marker="o", label=line)
        first = cells[0]
        ideal = [first["tokens_per_s"] * b / first["batch"] for b in batches]
        ax.plot(batches, ideal, linestyle="--", color=drawn.get_color(), alpha=0.4)
    _batch_axis(ax, lines, axis)
    ax.set_yscale("log")
    _plain_numbers(ax.yaxis)
    ax.set_ylabel("aggregate tokens/s (dashed: linear scaling)")


def _frontier(ax, lines, axis: str) -> None:
    for line, cells in lines.items():
        x = [c["tokens_per_s"] for c in cells]
        y = [c["p50_ms"] for c in cells]
        ax.plot(x, y, marker="o", label=line)
        for cell, xi, yi in zip(cells, x, y):
            ax.annotate(f"{axis[0]}{cell['batch']}", (xi, yi), textcoords="offset points", xytext=(4, 4),
                        fontsize=7)
    ax.set_xscale("log")
    _plain_numbers(ax.xaxis)
    ax.set_xlabel("aggregate tokens/s")
    ax.set_ylabel("per-token latency p50, ms")


__all__ = ["FORMATS", "PLOTS", "plot_files", "write_plots"]
