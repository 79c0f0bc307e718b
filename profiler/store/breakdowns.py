"""Profiled passes (`collect --breakdown`, profiler/breakdown): stored apart from the timed sessions.

A pass is one row of `profiled_passes` (its settings and result as JSON, labelled so nothing
mistakes it for a timed session) and a row of `profiled_pass_sessions` per timed session it was run
beside, so `show ID --breakdown` and `export --trace` find it from any of them. Deleting those
sessions drops the links (the pass stays, listed by nothing).

The two tables are schema v5 (profiler/store/schema.py).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Sequence

from profiler.records import utc_now_iso
from profiler.store.transaction import write_transaction

PASS_LABEL = "profiled pass (torch.profiler): not a timed session"


def save_pass(store, session_ids: Sequence[str], settings: dict[str, Any], result: dict[str, Any]) -> str:
    """Store a profiled pass run beside `session_ids`; its id."""
    conn = store._connection()
    pass_id = str(uuid.uuid4())
    with write_transaction(conn):
        conn.execute("INSERT INTO profiled_passes (id, created, label, settings, result) VALUES (?,?,?,?,?)",
                     (pass_id, utc_now_iso(), PASS_LABEL, json.dumps(settings, default=str),
                      json.dumps(result, allow_nan=False)))
        conn.executemany("INSERT INTO profiled_pass_sessions (pass_id, session_id) VALUES (?,?)",
                         [(pass_id, session_id) for session_id in dict.fromkeys(session_ids)])
    return pass_id


def passes_for_sessions(store, session_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The passes run beside any of these sessions, oldest first, each with `sessions` (all its session ids)."""
    conn = store._connection()
    if not session_ids:
        return []
    marks = ",".join("?" * len(session_ids))
    rows = conn.execute(
        f"SELECT id, created, label, settings, result FROM profiled_passes WHERE id IN "
        f"(SELECT pass_id FROM profiled_pass_sessions WHERE session_id IN ({marks})) ORDER BY created",
        list(session_ids)).fetchall()
    passes = []
    for pass_id, created, label, settings, result in rows:
        linked = [r[0] for r in conn.execute("SELECT session_id FROM profiled_pass_sessions WHERE pass_id=?",
                                             (pass_id,))]
        parsed = json.loads(result)
        passes.append({"id": pass_id, "created": created, "label": label, "settings": json.loads(settings),
                       "result": parsed, "sessions": linked, "device": parsed.get("device"),
                       "activities": parsed.get("activities"), "layers": parsed.get("layers")})
    return passes
