"""Peak memory over one cell: CUDA peak allocated on a GPU, peak resident set (RSS) on the CPU.

The CPU's peak RSS (VmHWM) only ever grows within a process; Linux resets it when "5" is written to
/proc/self/clear_refs, so each cell reports its own peak rather than the largest of every cell before
it. Where that file can't be written, the figure is the process's peak so far and `cell_only` says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


class PeakMemory:
    def __init__(self, torch: Any = None, cuda: bool = False) -> None:
        self._torch = torch
        self._cuda = cuda
        self.cell_only = True
        """False when the peak could not be reset: the figure then covers the process so far."""

    def reset(self) -> None:
        if self._cuda:
            self._torch.cuda.reset_peak_memory_stats()
            return
        try:
            _CLEAR_REFS.write_text("5")
        except OSError:
            self.cell_only = False

    def peak_mb(self) -> float | None:
        if self._cuda:
            return self._torch.cuda.max_memory_allocated() / 2**20
        return peak_rss_mb()


def peak_rss_mb() -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    import resource  # not Linux: the process's lifetime peak is all there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


__all__ = ["PeakMemory", "peak_rss_mb"]
