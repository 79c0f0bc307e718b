"""How long the decoding thread waited for a CPU during each token: the scheduler's own accounting.

Linux keeps, per thread, the time it spent runnable but not running (`/proc/thread-self/schedstat`,
second field, ns: run-queue wait) and counts the times it was preempted (involuntary context
switches, `getrusage(RUSAGE_THREAD).ru_nivcsw`). Read just before and just after a token's timed
window, their differences say how much of that token's latency was spent waiting for a CPU that
another process (or thread) held — a cause seen directly, not guessed from a CPU-use sample.

Cost: a `pread` of a ~30-byte file on a descriptor kept open and a `getrusage` call before each token,
a `pread` after it (and a second `getrusage` only when the token waited): about 1.5 µs a token
(benchmarks/overhead.py measures it, A/B and directly). All of it is outside the timed window, so
it never inflates a latency.

Only the calling thread is read. On a CPU, torch runs each matmul on its intra-op thread pool, and the
calling thread is one of that pool's workers: its wait covers its own share of the work and the time
it waited for the others at the end of each op only as *running* (spinning or sleeping), not as
run-queue wait. A competing process that takes a core from a pool thread stalls the op for the calling
thread too, but that shows as latency without wait here. So a recorded wait is a lower bound on the
scheduler's share of a token: non-zero means the token certainly waited that long; zero does not rule
the scheduler out.
"""

from __future__ import annotations

import os
import resource

_SCHEDSTAT = "/proc/thread-self/schedstat"


class SchedWatch:
    """Run-queue wait and involuntary switches of the thread that opened it, around each token.

    Open it and use it on the thread that decodes: `/proc/thread-self` resolves when the file is
    opened (the descriptor stays bound to the opening thread), and `getrusage(RUSAGE_THREAD)` reads
    whichever thread calls it; the decode loops create theirs on entry for that reason.
    Where /proc has no schedstat (another OS, a kernel without CONFIG_SCHEDSTATS), `available` is
    False and `end()` returns (None, None): the tokens then record no wait rather than a wrong zero.

        before = watch.begin()          # just before the timed window
        ...                             # the timed window
        wait_ms, preemptions = watch.end(before)   # just after it
    """

    def __init__(self, enabled: bool = True) -> None:
        """`enabled=False` (benchmarks/overhead.py's A/B): opens nothing and records nothing, as without /proc."""
        self._fd: int | None = None
        if not enabled:
            return
        try:
            self._fd = os.open(_SCHEDSTAT, os.O_RDONLY | os.O_CLOEXEC)
            _wait_ns(os.pread(self._fd, 64, 0))
        except (OSError, ValueError, IndexError):
            self.close()

    @property
    def available(self) -> bool:
        return self._fd is not None

    def begin(self, _pread=os.pread, _getrusage=resource.getrusage, _who=resource.RUSAGE_THREAD) -> tuple | None:
        """The counters as they stand (unparsed: parsing waits until after the window)."""
        if self._fd is None:
            return None
        return _pread(self._fd, 64, 0), _getrusage(_who).ru_nivcsw

    def end(self, before: tuple | None, _pread=os.pread, _getrusage=resource.getrusage,
            _who=resource.RUSAGE_THREAD) -> tuple[float | None, int | None]:
        """(ms waited for a CPU, involuntary switches) since `begin()` returned `before`."""
        if before is None or self._fd is None:
            return None, None
        wait_ns = _wait_ns(_pread(self._fd, 64, 0)) - _wait_ns(before[0])
        if wait_ns == 0:
            # a preempted thread stays runnable and waits on the run queue until it runs again, which
            # adds to its run-queue wait: no wait means no preemption, and saves a syscall per token
            return 0.0, 0
        return wait_ns / 1e6, _getrusage(_who).ru_nivcsw - before[1]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None

    def __enter__(self) -> SchedWatch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _wait_ns(schedstat: bytes) -> int:
    """The second of schedstat's three fields: time spent runnable on a run queue, ns."""
    return int(schedstat.split(None, 2)[1])
