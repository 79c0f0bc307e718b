"""Snapshots of the sessions table at 120x36 and 80x24, alone in a host app (so the other panels'
changes don't move these pictures): fixed sessions in a real store, one of them remote (client
arrival timing) and one a warm-up, sorted by p99. Update with `pytest --snapshot-update` only after
looking at the report."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from profiler.records import SessionMeta, TokenRecord
from profiler.store import SessionStore
from tui.widgets.sessions_table import SessionsTable

SIZES = [(120, 36), (80, 24)]


def fixed_store(data_dir) -> SessionStore:
    """Five sessions whose ids, times and latencies never change."""
    store = SessionStore(data_dir)
    sessions = []
    shapes = [  # prompt, input tokens, decode base ms, warm-up, timing
        ("Explain the KV cache.", 12, 4.0, True, "device"),
        ("Explain the KV cache.", 12, 4.2, False, "device"),
        ("Why is decoding memory-bound? Answer in one long paragraph with an example.", 40, 5.5, False, "device"),
        ("Summarise the attention mechanism.", 96, 7.25, False, "arrival"),
        ("Hi", 3, 12.5, False, "device"),
    ]
    for number, (prompt, input_tokens, base, warmup, timing) in enumerate(shapes, 1):
        meta = SessionMeta(prompt=prompt, input_tokens=input_tokens, model="org/tiny-model-v1",
                           model_label="fixture", dtype="float32", device="cpu", backend="scripted", warmup=warmup)
        tokens = [TokenRecord(k=k, context_size=input_tokens + k - 1,
                              latency_ms=30.0 + number if k == 1 else base + (k % 5) * 0.25 + (9.0 if k == 20 else 0),
                              phase="prefill" if k == 1 else "decode", token_id=97, token_text="a",
                              wall_time=1_700_000_000.0 + k) for k in range(1, 33)]
        started = f"2026-02-0{number}T09:00:00.000000+00:00"
        sessions.append((meta, {"id": f"5e55{number:04d}-fixed-session", "started": started, "ended": started,
                                "timing": timing}, tokens))
    store.import_sessions(sessions)
    return store


class TableHost(App):
    CSS = "SessionsTable { border: round $primary; height: 1fr; }"

    def __init__(self, store: SessionStore) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        yield SessionsTable(id="sessions")

    def on_mount(self) -> None:
        table = self.query_one(SessionsTable)
        table.border_title = "sessions"
        table.load(self.store.list_sessions())
        table.sort_by("decode_p99_ms", descending=True)
        table.focus()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_sessions_table(snap_compare, tmp_path, size):
    assert snap_compare(TableHost(fixed_store(tmp_path / "data")), terminal_size=size)
