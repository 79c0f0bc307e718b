"""Which session to follow next: the first one to start, and the next repeat of the same run.

A run (`collect --warmup 1 --repeat 3`, or one started in the app) is several sessions written one
after another by one process. They share the writer's (host, pid, pid_started); each new session's
row is written before its first token, so it has a larger rowid than the one before it. The run is
over when its process is gone (`collect` exits after its last session) or, for a process that lives
on after the run (the app's engine), when no next session appears within `gap_s`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from profiler.records import RUNNING
from profiler.store.connection import open_connection
from profiler.store.owner import ALIVE, owner_state

NEXT_SESSION_GAP_S = 5.0
"""How long a living writer may take between one session's end and the next one's row. The loop
writes the next row at once; the margin is for a busy machine (GC, a flush, the CPU shared)."""


def newest_running(store_path: Path) -> str | None:
    """The newest `running` session (read off the status index), or None."""
    conn = open_connection(Path(store_path), create=False)
    try:
        row = conn.execute("SELECT id FROM sessions WHERE status=? ORDER BY started DESC, rowid DESC LIMIT 1",
                           (RUNNING,)).fetchone()
    finally:
        conn.close()
    return row[0] if row else None


def measuring_elsewhere(store_path: Path, own_pids: tuple[int, ...] = ()) -> list[tuple[str, int]]:
    """(session id, pid) of sessions being measured now by another living process on this host:
    what a model loaded here would share the cores with."""
    import socket

    conn = open_connection(Path(store_path), create=False)
    try:
        rows = conn.execute("SELECT id, host, pid, pid_started FROM sessions WHERE status=? AND host=?",
                            (RUNNING, socket.gethostname())).fetchall()
    finally:
        conn.close()
    return [(session_id, pid) for session_id, host, pid, started in rows
            if pid is not None and pid not in own_pids and owner_state(host, pid, started) == ALIVE]


def wait_for_running(store_path: Path, wait_s: float, poll_s: float,
                     sleep: Callable[[float], None] = time.sleep) -> str | None:
    """The newest running session, waiting up to `wait_s` for one to start (a model still loading)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = newest_running(store_path)
        if found is not None or time.monotonic() >= deadline:
            return found
        sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))


def next_in_run(store_path: Path, session_id: str, poll_s: float, gap_s: float = NEXT_SESSION_GAP_S,
                sleep: Callable[[float], None] = time.sleep) -> str | None:
    """The session the same process started after `session_id` (the run's next warm-up or repeat),
    waiting while that process lives, at most `gap_s`; None once the run is over."""
    conn = open_connection(Path(store_path), create=False)
    try:
        row = conn.execute("SELECT rowid, host, pid, pid_started FROM sessions WHERE id=?", (session_id,)).fetchone()
        if row is None or row[2] is None:
            return None  # deleted, or a session no process wrote (imported): no run to follow
        rowid, host, pid, pid_started = row
        deadline = time.monotonic() + gap_s
        while True:
            following = conn.execute(
                "SELECT id FROM sessions WHERE host=? AND pid=? AND rowid>? ORDER BY rowid LIMIT 1",
                (host, pid, rowid)).fetchone()
            if following is not None:
                return following[0]
            if owner_state(host, pid, pid_started) != ALIVE or time.monotonic() >= deadline:
                return None
            sleep(poll_s)
    finally:
        conn.close()


__all__ = ["NEXT_SESSION_GAP_S", "measuring_elsewhere", "newest_running", "next_in_run", "wait_for_running"]
