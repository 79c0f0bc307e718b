"""profiler.store.changes on real store files: commits by other connections and other processes are seen."""

from __future__ import annotations

import subprocess
import sys

from profiler.records import SessionMeta, TokenRecord
from profiler.store import SessionStore
from profiler.store.changes import RUNNING_SQL, StoreChanges
from tests.conftest import cli_env
from tests.seeded_sessions import Spec, seed_sessions


def _meta() -> SessionMeta:
    return SessionMeta(prompt="p", input_tokens=3, model="scripted", model_label="scripted delays", dtype="float32",
                       device="cpu", backend="scripted")


def _token(k: int) -> TokenRecord:
    return TokenRecord(k=k, context_size=3 + k - 1, latency_ms=5.0, phase="prefill" if k == 1 else "decode",
                       token_id=97, token_text="a", wall_time=1_700_000_000.0 + k)


def test_nothing_committed_reads_as_no_change(private_data_dir):
    store = seed_sessions(SessionStore(private_data_dir), [Spec("a" * 32, "one")])
    changes = StoreChanges(store.path)
    assert changes.look() is None
    store.list_sessions()  # reading is not a change
    assert changes.look() is None


def test_a_session_started_written_and_ended_elsewhere(private_data_dir):
    store = SessionStore(private_data_dir)
    changes = StoreChanges(store.path)
    writer = store.begin_session(_meta())  # its own connection, as the engine's is
    started = changes.look()
    assert started is not None and started.listing and started.running == (writer.session_id,)
    writer.add_token(_token(1))
    writer.add_token(_token(2))
    writer.flush()
    tokens = changes.look()
    # tokens arrived: the listing is the same, only the running row's figures moved
    assert tokens is not None and not tokens.listing and tokens.running == (writer.session_id,)
    assert changes.look() is None
    writer.finish()
    ended = changes.look()
    assert ended is not None and ended.listing and ended.running == ()


def test_a_delete_by_another_process_is_seen(private_data_dir):
    store = seed_sessions(SessionStore(private_data_dir), [Spec("a" * 32, "one"), Spec("b" * 32, "two", day=2)])
    changes = StoreChanges(store.path)
    # a real `tokenlat-tui delete` in a process of its own
    result = subprocess.run([sys.executable, "-m", "tui", "delete", "b" * 8, "--yes"], env=cli_env(private_data_dir),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    change = changes.look()
    assert change is not None and change.listing
    assert [s["id"] for s in store.list_sessions()] == ["a" * 32]


def test_a_delete_and_an_insert_that_keep_the_count_still_change_the_listing(private_data_dir):
    store = seed_sessions(SessionStore(private_data_dir), [Spec("a" * 32, "one")])
    changes = StoreChanges(store.path)
    store.delete_sessions(["a" * 32])
    seed_sessions(store, [Spec("c" * 32, "three")])
    change = changes.look()
    assert change is not None and change.listing


def test_the_running_sessions_come_off_the_status_index(private_data_dir):
    """Asked twice a second: it must read the index, not every session row (SQLite's own plan says)."""
    changes = StoreChanges(SessionStore(private_data_dir).path)
    plan = " ".join(str(row[-1]) for row in changes._conn.execute(f"EXPLAIN QUERY PLAN {RUNNING_SQL}", ("running",)))
    assert "INDEX sessions_status" in plan, plan
