"""Sweeps in the store (schema v3): the `sweeps` row, its planned cells and their status, and which
sessions each finished cell's figures come from.

A cell repeat that runs is one run of sessions (`sweep_cells.run_id`: a batched run, a remote run).
Re-running an interrupted cell gives it a new run; the old run's sessions keep their sweep id and cell
tag but drop out of the cell's figures, which come only from the run recorded on the cell.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from typing import Any, Iterable

from profiler.errors import InputError
from profiler.records import utc_now_iso
from profiler.store.connection import open_connection
from profiler.store.owner import GONE, owner_state
from profiler.store.transaction import write_transaction

PENDING, RUNNING, DONE, SKIPPED, FAILED, INTERRUPTED = "pending", "running", "done", "skipped", "failed", "interrupted"
CELL_STATUSES = (PENDING, RUNNING, DONE, SKIPPED, FAILED, INTERRUPTED)
SWEEP_FINISHED = "finished"


@dataclass(frozen=True)
class CellRow:
    cell: str
    repeat: int
    position: int
    params: dict[str, Any]
    status: str
    reason: str | None
    run_id: str | None
    started: str | None
    ended: str | None


class SweepStore:
    """Sweep rows of the store at `path`, on a connection of its own."""

    def __init__(self, path) -> None:
        self.path = path
        self.conn = open_connection(path)

    def close(self) -> None:
        self.conn.close()

    # -- writing
    def create(self, sweep_id: str, spec: dict[str, Any], seed: int,
               cells: Iterable[tuple[str, int, int, dict[str, Any]]]) -> None:
        """The sweep and every (cell, repeat, position, params) it plans, all `pending`, in one transaction."""
        pid = os.getpid()
        with write_transaction(self.conn):
            self.conn.execute("INSERT INTO sweeps (id, started, status, spec, seed, pid, host) VALUES (?,?,?,?,?,?,?)",
                              (sweep_id, utc_now_iso(), RUNNING, json.dumps(spec), seed, pid, socket.gethostname()))
            self.conn.executemany(
                "INSERT INTO sweep_cells (sweep_id, cell, repeat, position, params, status) VALUES (?,?,?,?,?,?)",
                [(sweep_id, cell, repeat, position, json.dumps(params), PENDING)
                 for cell, repeat, position, params in cells])

    def claim(self, sweep_id: str) -> None:
        """This process now runs the sweep (a resume): status running, our pid."""
        with write_transaction(self.conn):
            self.conn.execute("UPDATE sweeps SET status=?, ended=NULL, pid=?, host=? WHERE id=?",
                              (RUNNING, os.getpid(), socket.gethostname(), sweep_id))

    def start_cell(self, sweep_id: str, cell: str, repeat: int) -> None:
        with write_transaction(self.conn):
            self.conn.execute("UPDATE sweep_cells SET status=?, reason=NULL, run_id=NULL, started=?, ended=NULL"
                              " WHERE sweep_id=? AND cell=? AND repeat=?", (RUNNING, utc_now_iso(), sweep_id, cell,
                                                                            repeat))

    def end_cell(self, sweep_id: str, cell: str, repeat: int, status: str, *, reason: str | None = None,
                 run_id: str | None = None) -> None:
        if status not in CELL_STATUSES:
            raise ValueError(f"unknown cell status {status!r}")
        with write_transaction(self.conn):
            self.conn.execute("UPDATE sweep_cells SET status=?, reason=?, run_id=COALESCE(?, run_id), ended=?"
                              " WHERE sweep_id=? AND cell=? AND repeat=?",
                              (status, reason, run_id, utc_now_iso(), sweep_id, cell, repeat))

    def end_sweep(self, sweep_id: str, status: str) -> None:
        with write_transaction(self.conn):
            self.conn.execute("UPDATE sweeps SET status=?, ended=? WHERE id=?", (status, utc_now_iso(), sweep_id))

    def tag_run(self, run_id: str, sweep_id: str, cell: str) -> None:
        """Tag a run's sessions with the sweep and cell (runners that don't tag them themselves)."""
        with write_transaction(self.conn):
            self.conn.execute("UPDATE sessions SET sweep_id=?, cell=? WHERE run_id=?", (sweep_id, cell, run_id))

    def tag_sessions(self, session_ids: list[str], sweep_id: str, cell: str, run_id: str) -> None:
        with write_transaction(self.conn):
            self.conn.executemany("UPDATE sessions SET sweep_id=?, cell=?, run_id=? WHERE id=?",
                                  [(sweep_id, cell, run_id, s) for s in session_ids])

    def set_peak_memory(self, run_id: str, peak_mb: float) -> None:
        """The cell's own peak memory onto its run's sessions.

        It replaces what the run recorded: on the CPU a run can only read the process's lifetime peak
        (ru_maxrss), which after a large cell stays high for every later one; the sweep resets the peak
        (profiler/sweep/memory.py) before each cell, so its figure is that cell's.
        """
        with write_transaction(self.conn):
            self.conn.execute("UPDATE sessions SET peak_memory_mb=? WHERE run_id=?", (peak_mb, run_id))

    def recover(self, sweep_id: str) -> None:
        """A sweep whose process ended without closing it: its running cells become `interrupted`."""
        row = self.conn.execute("SELECT status, host, pid FROM sweeps WHERE id=?", (sweep_id,)).fetchone()
        if row is None or row[0] != RUNNING:
            return
        # no start time is stored with a sweep: a reused pid reads as alive, and the sweep waits for a later look
        if owner_state(row[1], row[2], None) != GONE:
            return
        with write_transaction(self.conn):
            self.conn.execute("UPDATE sweep_cells SET status=?, reason=?, ended=? WHERE sweep_id=? AND status=?",
                              (INTERRUPTED, "the sweep's process ended during this cell", utc_now_iso(), sweep_id,
                               RUNNING))
            self.conn.execute("UPDATE sweeps SET status=?, ended=COALESCE(ended, ?) WHERE id=?",
                              (INTERRUPTED, utc_now_iso(), sweep_id))

    # -- reading
    def resolve(self, prefix: str) -> str:
        """A sweep's full id from its id or an unambiguous prefix."""
        prefix = prefix.strip()
        if not prefix:
            raise InputError("empty sweep id")
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches = [r[0] for r in self.conn.execute("SELECT id FROM sweeps WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                                                   (escaped + "%",))]
        if not matches:
            raise InputError(f"no sweep {prefix!r} in {self.path}")
        if len(matches) > 1 and prefix not in matches:
            raise InputError(f"sweep id {prefix!r} is ambiguous; give more characters")
        return prefix if prefix in matches else matches[0]

    def get(self, sweep_id: str) -> dict[str, Any]:
        cursor = self.conn.execute("SELECT id, started, ended, status, spec, seed, pid, host FROM sweeps WHERE id=?",
                                   (sweep_id,))
        row = cursor.fetchone()
        if row is None:
            raise InputError(f"no sweep {sweep_id!r} in {self.path}")
        sweep = dict(zip([d[0] for d in cursor.description], row))
        sweep["spec"] = json.loads(sweep["spec"])
        return sweep

    def list(self) -> list[dict[str, Any]]:
        """Sweeps newest first, each with its spec and a count of cells per status."""
        cursor = self.conn.execute("SELECT id, started, ended, status, spec, seed FROM sweeps ORDER BY started DESC")
        names = [d[0] for d in cursor.description]
        sweeps = [dict(zip(names, row)) for row in cursor.fetchall()]
        counts: dict[str, dict[str, int]] = {}
        for sweep_id, status, count in self.conn.execute(
                "SELECT sweep_id, status, COUNT(*) FROM sweep_cells GROUP BY sweep_id, status"):
            counts.setdefault(sweep_id, {})[status] = count
        for sweep in sweeps:
            sweep["spec"] = json.loads(sweep["spec"])
            sweep["cells"] = counts.get(sweep["id"], {})
        return sweeps

    def cells(self, sweep_id: str) -> list[CellRow]:
        rows = self.conn.execute(
            "SELECT cell, repeat, position, params, status, reason, run_id, started, ended FROM sweep_cells"
            " WHERE sweep_id=? ORDER BY position", (sweep_id,)).fetchall()
        return [CellRow(r[0], r[1], r[2], json.loads(r[3]), *r[4:]) for r in rows]

    def cell_sessions(self, sweep_id: str) -> list[dict[str, Any]]:
        """The measured sessions each `done` cell's figures come from (its recorded run, warm-ups left out)."""
        cursor = self.conn.execute(
            "SELECT c.cell, c.repeat, s.id, s.status, s.prompt, s.input_tokens, s.batch_size, s.batch_index,"
            " s.tokens, s.ttft_ms, s.decode_mean_ms, s.peak_memory_mb, s.compile_ms, s.model, s.dtype, s.quant,"
            " s.device, s.gpu_name, s.timing, s.run_id, s.environment"
            " FROM sweep_cells c JOIN sessions s ON s.run_id = c.run_id AND s.sweep_id = c.sweep_id AND s.cell = c.cell"
            " WHERE c.sweep_id=? AND c.status=? AND s.warmup=0 ORDER BY c.position, s.started, s.batch_index",
            (sweep_id, DONE))
        names = [d[0] for d in cursor.description]
        sessions = [dict(zip(names, row)) for row in cursor.fetchall()]
        for session in sessions:
            session["environment"] = json.loads(session["environment"] or "{}")
        return sessions

    def session_tokens(self, session_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Each session's tokens (k order): phase, latency, token id and text."""
        result: dict[str, list[dict[str, Any]]] = {s: [] for s in session_ids}
        for start in range(0, len(session_ids), 500):  # SQLite's bound-parameter limit
            chunk = session_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                    f"SELECT session_id, k, phase, latency_ms, token_id, token_text FROM tokens"
                    f" WHERE session_id IN ({marks}) ORDER BY session_id, k", chunk):
                result[row[0]].append({"k": row[1], "phase": row[2], "latency_ms": row[3], "token_id": row[4],
                                       "token_text": row[5]})
        return result

    def run_summaries(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        result = {}
        for run_id in run_ids:
            row = self.conn.execute("SELECT summary FROM runs WHERE id=?", (run_id,)).fetchone()
            if row and row[0]:
                result[run_id] = json.loads(row[0])
        return result


__all__ = ["CELL_STATUSES", "CellRow", "DONE", "FAILED", "INTERRUPTED", "PENDING", "RUNNING", "SKIPPED",
           "SWEEP_FINISHED", "SweepStore"]
