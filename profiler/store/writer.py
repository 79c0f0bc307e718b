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
from typing import Callable

from profiler.errors import StoreError
from profiler.records import (DECODE, FAILED, FINISHED, PREFILL, RUNNING, SessionMeta, TokenRecord, summarize,
                              utc_now_iso)
from profiler.store.connection import open_connection
from profiler.store.owner import process_start_time
from profiler.store.transaction import write_transaction

FLUSH_EVERY_TOKENS = 64
FLUSH_EVERY_S = 0.25

_TOKEN_INSERT = (
    "INSERT INTO tokens (session_id, k, context_size, latency_ms, phase, token_id, token_text, wall_time,"
    " forward_ms, sample_ms, gc_collections, gc_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
_METRIC_INSERT = (
    "INSERT INTO metrics (session_id, wall_time, gpu_util, gpu_mem_mb, gpu_temp_c, sm_clock_mhz, power_w,"
    " throttle_reasons, cpu_util, rss_mb) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


class SessionWriter:
    """Owns one session row from `running` to its final status, on its own connection."""

    def __init__(self, path: Path, meta: SessionMeta, *, session_id: str | None = None,
                 metrics_source: Callable[[], list[tuple]] | None = None) -> None:
        self.session_id = session_id or str(uuid.uuid4())
        self.meta = meta
        self._conn = open_connection(path)
        self._pending_tokens: list[tuple] = []
        self._last_flush = time.monotonic()
        self._metrics_source = metrics_source
        self._closed = False
        self.started = utc_now_iso()
        pid = os.getpid()
        try:
            self._write(
                "INSERT INTO sessions (id, status, started, prompt, input_tokens, warmup, repeat_index, model,"
                " model_label, quant, dtype, device, backend, batch_size, attn, gpu_name, settings, environment,"
                " source, host, pid, pid_started) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(self.session_id, RUNNING, self.started, meta.prompt, meta.input_tokens, int(meta.warmup),
                  meta.repeat_index, meta.model, meta.model_label, meta.quant, meta.dtype, meta.device, meta.backend,
                  meta.batch_size, meta.attn, meta.gpu_name, json.dumps(meta.settings, default=str),
                  json.dumps(meta.environment, default=str), meta.source, socket.gethostname(), pid,
                  process_start_time(pid))],
            )
        except BaseException:
            self._conn.close()
            self._closed = True
            raise

    def set_metrics_source(self, source: Callable[[], list[tuple]] | None) -> None:
        self._metrics_source = source

    def add_token(self, record: TokenRecord) -> None:
        self._pending_tokens.append((
            self.session_id, record.k, record.context_size, record.latency_ms, record.phase, record.token_id,
            record.token_text, record.wall_time, record.forward_ms, record.sample_ms, record.gc_collections,
            record.gc_ms,
        ))

    def flush_if_due(self) -> bool:
        if len(self._pending_tokens) >= FLUSH_EVERY_TOKENS or time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        metrics = self._metrics_source() if self._metrics_source else []
        tokens = self._pending_tokens
        if tokens or metrics:
            with write_transaction(self._conn):
                if tokens:
                    self._conn.executemany(_TOKEN_INSERT, tokens)
                if metrics:
                    self._conn.executemany(_METRIC_INSERT, [(self.session_id, *m) for m in metrics])
            # cleared only after COMMIT: an interrupted flush is retried by finish()
            self._pending_tokens = []
        self._last_flush = time.monotonic()

    def finish(self, status: str = FINISHED, error: str | None = None) -> None:
        """Flush what's left, then mark the session with its final status and summary.

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
                summary = finalize_session(self._conn, self.session_id, status, error)
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

    def _write(self, sql: str, rows: list[tuple]) -> None:
        with write_transaction(self._conn):
            self._conn.executemany(sql, rows)


def finalize_session(conn: sqlite3.Connection, session_id: str, status: str, error: str | None = None,
                     ended: str | None = None, *, only_if_running: bool = False):
    """Set a session's final status and recompute its stored summary from its tokens.

    Returns the summary, or None when `only_if_running` and the session had already ended (the
    orphan sweep must never turn a session its owner just finished into an interrupted one).
    """
    with write_transaction(conn):
        if only_if_running:
            row = conn.execute("SELECT status FROM sessions WHERE id=?", (session_id,)).fetchone()
            if row is None or row[0] != RUNNING:
                return None
        summary = summary_from_db(conn, session_id)
        conn.execute(
            "UPDATE sessions SET status=?, ended=?, error=COALESCE(?, error), tokens=?, ttft_ms=?, decode_p50_ms=?,"
            " decode_p95_ms=?, decode_p99_ms=?, decode_mean_ms=?, tokens_per_s=? WHERE id=?",
            (status, ended or utc_now_iso(), error, summary.tokens, summary.ttft_ms, summary.decode_p50_ms,
             summary.decode_p95_ms, summary.decode_p99_ms, summary.decode_mean_ms, summary.tokens_per_s, session_id),
        )
    return summary


def summary_from_db(conn: sqlite3.Connection, session_id: str):
    rows = conn.execute("SELECT phase, latency_ms FROM tokens WHERE session_id=? ORDER BY k", (session_id,)).fetchall()
    first = next((ms for phase, ms in rows if phase == PREFILL), None)
    decode = [ms for phase, ms in rows if phase == DECODE]
    return summarize(first, decode, len(rows))


__all__ = ["SessionWriter", "finalize_session", "summary_from_db"]
