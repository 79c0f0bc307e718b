"""Writes one running session: tokens reach disk while the run goes on.

Tokens are buffered and committed every FLUSH_EVERY_TOKENS tokens or FLUSH_EVERY_S seconds,
whichever comes first. The decode loop calls `flush_if_due()` between tokens, outside any
timed interval, so flushing never inflates a measured latency.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from profiler.errors import StoreError
from profiler.records import (DECODE, FAILED, FINISHED, PREFILL, RUNNING, SessionMeta, TokenRecord, summarize,
                              utc_now_iso)
from profiler.store.connection import open_connection
from profiler.store.owner import process_start_time
from profiler.store.session_rows import (ENDED_FIELDS, SUMMARY_ASSIGNMENTS, TOKEN_INSERT, insert_session,
                                         summary_values, token_row)
from profiler.store.transaction import write_transaction

FLUSH_EVERY_TOKENS = 64
FLUSH_EVERY_S = 0.25

_METRIC_INSERT = (
    "INSERT INTO metrics (session_id, wall_time, gpu_util, gpu_mem_mb, gpu_temp_c, sm_clock_mhz, power_w,"
    " throttle_reasons, cpu_util, rss_mb) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


class SessionWriter:
    """Owns one session row from `running` to its final status, on its own connection."""

    def __init__(self, path: Path, meta: SessionMeta, *, session_id: str | None = None,
                 metrics_source: Callable[[], list[tuple]] | None = None, owner_pid: int | None = None) -> None:
        """owner_pid: the process the session belongs to when not this one (a remote run's store writer
        process writes for the run's process)."""
        self.session_id = session_id or str(uuid.uuid4())
        self.meta = meta
        self._conn = open_connection(path)
        self._pending_tokens: list[tuple] = []
        self._last_flush = time.monotonic()
        self._metrics_source = metrics_source
        self._closed = False
        self.started = utc_now_iso()
        pid = owner_pid or os.getpid()
        try:
            with write_transaction(self._conn):
                insert_session(self._conn, self.session_id, meta, status=RUNNING, started=self.started,
                               host=socket.gethostname(), pid=pid, pid_started=process_start_time(pid))
        except BaseException:
            self._conn.close()
            self._closed = True
            raise

    def set_metrics_source(self, source: Callable[[], list[tuple]] | None) -> None:
        self._metrics_source = source

    def add_token(self, record: TokenRecord) -> None:
        self._pending_tokens.append(token_row(self.session_id, record))

    @property
    def flush_due(self) -> bool:
        return len(self._pending_tokens) >= FLUSH_EVERY_TOKENS or time.monotonic() - self._last_flush >= FLUSH_EVERY_S

    def flush_if_due(self) -> bool:
        if self.flush_due:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        flush_together([self])

    def finish(self, status: str = FINISHED, error: str | None = None, *, eos_k: int | None = None,
               compile_ms: float | None = None, peak_memory_mb: float | None = None,
               environment: dict[str, Any] | None = None) -> None:
        """Flush what's left, then mark the session with its final status and summary.

        `environment` keys, when given, are merged into the session's stored environment (what is only
        known over the whole session: the machine's noise during it, profiler/machine_noise.py).

        `eos_k`, `compile_ms` and `peak_memory_mb`, when given, are stored with it (they may only be
        known at the end: when the sequence produced EOS, how much memory the run peaked at).

        If the store can't be written any more (disk full, made read-only), the session is still
        ended as well as it can be: tokens not yet flushed are given up, the session is marked
        `failed` (or keeps `interrupted`) with the reason, and StoreError says what happened. If
        even that mark can't be written, the session stays `running` with every token flushed so
        far, and the first command to open the store with room to write marks it `interrupted`.
        """
        if self._closed:
            return
        problem: StoreError | None = None
        try:
            try:
                self.flush()
            except StoreError as exc:
                problem = exc
                self._pending_tokens = []
                status = FAILED if status == FINISHED else status
                error = error or str(exc)
            try:
                ended_fields = {"eos_k": eos_k, "compile_ms": compile_ms, "peak_memory_mb": peak_memory_mb}
                summary = finalize_session(self._conn, self.session_id, status, error, ended_fields=ended_fields,
                                           environment=environment)
                outcome = f"session {self.session_id[:8]} saved as {status} with {summary.tokens} tokens"
            except StoreError as exc:
                problem = problem or exc
                outcome = (f"session {self.session_id[:8]} is left marked running with the tokens flushed so far; "
                           "the next command that can write the store marks it interrupted")
        finally:
            self._conn.close()
            self._closed = True
        if problem is not None:
            raise StoreError(f"{problem}; {outcome}") from problem


def flush_if_due_together(writers: list[SessionWriter]) -> bool:
    """A batch's B sessions, flushed in one transaction when any of them is due (B commits become one)."""
    if any(writer.flush_due for writer in writers if not writer._closed):
        flush_together(writers)
        return True
    return False


def flush_together(writers: list[SessionWriter]) -> None:
    """Commit the pending tokens and metrics of these writers' sessions (one store) in ONE transaction,
    on the first open writer's connection."""
    writers = [writer for writer in writers if not writer._closed]
    if not writers:
        return
    pending = [(writer, writer._metrics_source() if writer._metrics_source else [], writer._pending_tokens)
               for writer in writers]
    if any(tokens or metrics for _writer, metrics, tokens in pending):
        conn = writers[0]._conn
        with write_transaction(conn):
            for writer, metrics, tokens in pending:
                if tokens:
                    conn.executemany(TOKEN_INSERT, tokens)
                if metrics:
                    conn.executemany(_METRIC_INSERT, [(writer.session_id, *m) for m in metrics])
        # cleared only after COMMIT: an interrupted flush is retried by finish()
        for writer, _metrics, _tokens in pending:
            writer._pending_tokens = []
    now = time.monotonic()
    for writer in writers:
        writer._last_flush = now


def finalize_session(conn: sqlite3.Connection, session_id: str, status: str, error: str | None = None,
                     ended: str | None = None, *, only_if_running: bool = False,
                     ended_fields: dict[str, Any] | None = None, environment: dict[str, Any] | None = None):
    """Set a session's final status and recompute its stored summary from its tokens.

    `ended_fields` (names of session_rows.ENDED_FIELDS) set those columns where not None.

    Returns the summary, or None when `only_if_running` and the session had already ended (the
    orphan sweep must never turn a session its owner just finished into an interrupted one).
    """
    with write_transaction(conn):
        if only_if_running:
            row = conn.execute("SELECT status FROM sessions WHERE id=?", (session_id,)).fetchone()
            if row is None or row[0] != RUNNING:
                return None
        summary = summary_from_db(conn, session_id)
        known = {name: value for name, value in (ended_fields or {}).items() if value is not None}
        unknown = set(known) - set(ENDED_FIELDS)
        if unknown:
            raise ValueError(f"not a field set when a session ends: {', '.join(sorted(unknown))}")
        extra = "".join(f", {name}=?" for name in known)
        conn.execute(
            f"UPDATE sessions SET status=?, ended=?, error=COALESCE(?, error), {SUMMARY_ASSIGNMENTS}{extra} WHERE id=?",
            (status, ended or utc_now_iso(), error, *summary_values(summary), *known.values(), session_id),
        )
        if environment:
            conn.execute("UPDATE sessions SET environment=json_patch(environment, ?) WHERE id=?",
                         (json.dumps(environment, default=str), session_id))
    return summary


def summary_from_db(conn: sqlite3.Connection, session_id: str):
    rows = conn.execute("SELECT phase, latency_ms FROM tokens WHERE session_id=? ORDER BY k", (session_id,)).fetchall()
    first = next((ms for phase, ms in rows if phase == PREFILL), None)
    decode = [ms for phase, ms in rows if phase == DECODE]
    return summarize(first, decode, len(rows))


__all__ = ["SessionWriter", "finalize_session", "summary_from_db"]
