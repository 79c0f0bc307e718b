"""What the machine was doing while a benchmark ran: the hypervisor's steal, read from /proc/stat.

On a shared VM the hypervisor may run another guest on our CPU for milliseconds at a time; nothing in
this process runs then, so every tail figure taken meanwhile is partly the machine's. Benchmarks print
the steal of each measured stretch beside their figures.
"""

from __future__ import annotations

from pathlib import Path


def cpu_times() -> list[int] | None:
    """The machine's CPU time counters (/proc/stat's cpu line: user nice system idle iowait irq softirq steal)."""
    try:
        return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None


def steal_pct(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of the machine's CPU time the hypervisor took (steal) between two cpu_times()."""
    if not before or not after or sum(after) == sum(before):
        return None
    return 100 * (after[7] - before[7]) / (sum(after) - sum(before))
