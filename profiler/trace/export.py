"""Reading sessions from the store for a trace, and writing the trace file.

The file is written through profiler/export_target.py (the project's one writer): a regular file
only, an existing one replaced only with `force`, written beside and renamed into place, so an
interrupted export leaves nothing half-written. `-` writes to standard output.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from profiler.trace.build import SpikeMark, TraceSession, build_trace


@dataclass(frozen=True)
class TraceResult:
    path: str
    sessions: int
    tokens: int
    events: int


def read_trace_sessions(store, session_ids: Sequence[str], *,
                        spikes: Callable[[list[dict], list[dict]], list[SpikeMark]] | None = None
                        ) -> list[TraceSession]:
    """Each session's rows, oldest first. `spikes(tokens, metrics)` marks slow tokens (the caller's code)."""
    from profiler.store.chunks import remote_details

    items = []
    for session_id in session_ids:
        session = store.get_session(session_id)
        tokens = store.session_tokens(session_id)
        metrics = store.session_metrics(session_id)
        marks = spikes(tokens, metrics) if spikes is not None else []
        items.append(TraceSession(session, tokens, metrics, remote_details(store, session_id), marks))
    items.sort(key=lambda item: (item.session.get("started") or "", item.session.get("batch_index") or 0))
    return items


def trace_text(items: Sequence[TraceSession], passes: Sequence[dict[str, Any]] = ()) -> tuple[str, int]:
    trace = build_trace(items, passes)
    # strict JSON (no NaN): a viewer that meets NaN refuses the whole file
    return json.dumps(trace, allow_nan=False, ensure_ascii=False, separators=(",", ":")), len(trace["traceEvents"])


def write_trace(items: Sequence[TraceSession], path: str, *, force: bool,
                passes: Sequence[dict[str, Any]] = ()) -> TraceResult:
    from profiler.export_target import is_stdout, write_file

    text, count = trace_text(items, passes)
    tokens = sum(len(item.tokens) for item in items)
    if is_stdout(path):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return TraceResult("-", len(items), tokens, count)
    written = write_file(path, text + "\n", force=force)
    return TraceResult(str(written), len(items), tokens, count)


__all__ = ["TraceResult", "read_trace_sessions", "trace_text", "write_trace"]
