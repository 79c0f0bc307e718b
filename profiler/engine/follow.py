"""Following a session through the store: how the app attaches to a run it didn't start, and `watch`.

Any process that collects (a detached engine, another app, `tokenlat-tui collect` in another shell)
flushes its tokens at least every 250 ms. A follower asks only for tokens past the last k it has
seen — an indexed range on the tokens table's primary key (session_id, k) — so each poll costs the
same however long the run is. Polling at <= 10 Hz keeps the view at most ~350 ms behind the run.
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from profiler.records import RUNNING, TokenRecord
from profiler.store.connection import open_connection

_TOKEN_COLUMNS = ("k, context_size, latency_ms, phase, token_id, token_text, wall_time, forward_ms, sample_ms,"
                  " gc_collections, gc_ms, cpu_wait_ms, preemptions")


@dataclass
class SessionFollower:
    store_path: Path
    session_id: str
    records: list[TokenRecord] = field(default_factory=list)
    status: str = RUNNING
    input_tokens: int | None = None
    max_new_tokens: int | None = None
    host: str = ""
    pid: int | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        self._conn = open_connection(Path(self.store_path))
        row = self._conn.execute("SELECT input_tokens, settings, host, pid FROM sessions WHERE id=?",
                                 (self.session_id,)).fetchone()
        if row is None:
            raise LookupError(f"no session {self.session_id!r}")
        import json

        self.input_tokens, settings, self.host, self.pid = row[0], json.loads(row[1] or "{}"), row[2], row[3]
        self.max_new_tokens = settings.get("max_new_tokens")

    @property
    def last_k(self) -> int:
        return self.records[-1].k if self.records else 0

    @property
    def ended(self) -> bool:
        return self.status != RUNNING

    def poll(self) -> int:
        """Read what is new; returns how many tokens arrived. The status is read first, so once it
        is final the tokens read after it are all there are."""
        row = self._conn.execute("SELECT status, error FROM sessions WHERE id=?", (self.session_id,)).fetchone()
        if row is None:  # deleted meanwhile
            self.status, self.error = "deleted", None
            return 0
        self.status, self.error = row
        rows = self._conn.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE session_id=? AND k>? ORDER BY k",
                                  (self.session_id, self.last_k)).fetchall()
        self.records.extend(TokenRecord(*r) for r in rows)
        return len(rows)

    def close(self) -> None:
        self._conn.close()

    def ask_owner_to_stop(self) -> str:
        """SIGINT to the process that writes the session: `collect` and the engine both turn it into a
        clean `interrupted` session between tokens. Returns one line saying what happened."""
        return interrupt_owner(self.host, self.pid)


def interrupt_owner(host: str, pid: int | None) -> str:
    if pid is None:
        return "the session names no process to stop"
    if host != socket.gethostname():
        return f"the session is running on {host}; stop it there"
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return f"process {pid} is gone; the session will be marked interrupted"
    except PermissionError:
        return f"not allowed to stop process {pid}"
    return f"asked process {pid} to stop"


__all__ = ["SessionFollower", "interrupt_owner"]
