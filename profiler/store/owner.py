"""Whether the process that owns a `running` session is still alive: the sweep and `delete` both ask."""

from __future__ import annotations

import socket

ALIVE, GONE, UNKNOWN = "alive", "gone", "unknown"


def process_start_time(pid: int) -> float | None:
    """When `pid` started: with the pid it identifies a process even after pid reuse."""
    import psutil  # deferred: psutil is only needed by writers, the orphan sweep and delete

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def owner_state(host: str | None, pid: int | None, pid_started: float | None) -> str:
    """ALIVE, GONE, or UNKNOWN (another machine's process, or no pid recorded: we can't tell)."""
    if host != socket.gethostname() or pid is None:
        return UNKNOWN
    started = process_start_time(pid)
    if started is not None and (pid_started is None or abs(started - pid_started) < 1.0):
        return ALIVE
    return GONE
