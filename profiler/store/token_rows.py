"""Tokens joined with their session, in the CSV/frame column layout (profiler.columns)."""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from profiler.records import iso_from_unix

_SELECT = """
SELECT s.id, s.input_tokens, t.context_size, t.k, t.latency_ms,
       t.phase, s.warmup, s.model, s.model_label, s.quant, s.dtype, s.device, s.backend, s.batch_size, s.attn,
       s.gpu_name, s.status, s.started, s.repeat_index, t.token_id, t.token_text, t.wall_time, t.forward_ms,
       t.sample_ms, t.gc_collections, t.gc_ms, s.prompt, s.timing
FROM tokens t JOIN sessions s ON s.id = t.session_id
"""


def query_token_rows(conn: sqlite3.Connection, session_ids: Sequence[str] | None,
                     include_warmup: bool) -> list[dict[str, Any]]:
    clauses, params = [], []
    if session_ids is not None:
        if not session_ids:
            return []
        clauses.append(f"s.id IN ({','.join('?' * len(session_ids))})")
        params.extend(session_ids)
    if not include_warmup:
        clauses.append("s.warmup = 0")
    sql = _SELECT + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY s.started, s.rowid, t.k"
    rows = []
    for (sid, input_tokens, context, k, latency, phase, warmup, model, label, quant, dtype, device, backend, batch,
         attn, gpu, status, started, repeat, token_id, text, wall, forward, sample, gcs, gc_ms, prompt,
         timing) in conn.execute(sql, params):
        rows.append({
            "Prompt_ID": sid, "Input_Token_Length": input_tokens, "Context_Size": context, "Token_Index_k": k,
            "Per_Token_Latency_ms": latency, "phase": phase, "warmup": bool(warmup), "model": model,
            "model_label": label, "quant": quant, "dtype": dtype, "device": device, "backend": backend,
            "batch_size": batch, "attn": attn, "gpu_name": gpu, "session_status": status, "session_started": started,
            "repeat_index": repeat, "token_id": token_id, "token_text": text,
            "timestamp": iso_from_unix(wall) if wall else "", "forward_ms": forward, "sample_ms": sample,
            "gc_collections": gcs, "gc_ms": gc_ms, "prompt": prompt, "timing": timing,
        })
    return rows
