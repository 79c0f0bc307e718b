"""Makes tests/data/store-v2.sqlite: a session store as the release with schema v2 writes it.

Run with the code of that release (it refuses any other schema):

    python tests/data/make_store_v2.py tests/data/store-v2.sqlite

The checked-in file was made at commit 0f0a924ae609aba95876c08db30ce8cc9c3c1360 (schema v2),
before the schema v3 migration existed. tests/test_store_migration.py opens a copy of it and
checks that migrating keeps every session, token, chunk and metric row.

What it holds (all through the release's own writers, no hand-made rows):
- a warm-up and four measured sessions (two prompts x two repeats), finished, by the Collector on a
  ScriptedBackend with a ManualClock (exact, context-dependent latencies);
- one session interrupted after 6 tokens (a cancel, as escape or SIGINT gives);
- one session written directly with a SessionWriter, with system-metrics rows;
- one failed session (an error after 4 tokens);
- a remote run of two client-timed streams (runs, chunks, remote_sessions) through the StoreSink;
- two sessions imported from a seed-format CSV.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import threading
from pathlib import Path

from profiler.backends.scripted import ScriptedBackend
from profiler.clock import ManualClock
from profiler.collect import Collector, RunObserver, RunSettings
from profiler.csv_import import import_csv
from profiler.records import FAILED, SessionMeta, TokenRecord
from profiler.remote.sink import StoreSink
from profiler.store import SessionStore
from profiler.store.schema import SCHEMA_VERSION

WALL_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: token wall times of the hand-driven sessions


def _collector_sessions(store: SessionStore) -> None:
    clock = ManualClock()
    backend = ScriptedBackend(prefill_ms=20.0, decode_ms=lambda context: 4.0 + 0.01 * context, clock=clock)
    settings = RunSettings(max_new_tokens=16, warmup=1, repeat=2, system_metrics=False, gc_freeze=False)
    Collector(backend, store, settings, clock=clock).run(["Tell me about foxes.", "A longer prompt: " + "dogs " * 20])


class _CancelAfter(RunObserver):
    def __init__(self, cancel: threading.Event, tokens: int) -> None:
        self.cancel, self.tokens = cancel, tokens

    def token(self, session_id: str, record: TokenRecord) -> None:
        if record.k >= self.tokens:
            self.cancel.set()


def _interrupted_session(store: SessionStore) -> None:
    clock = ManualClock()
    cancel = threading.Event()
    backend = ScriptedBackend(prefill_ms=15.0, decode_ms=6.0, clock=clock)
    settings = RunSettings(max_new_tokens=40, warmup=0, repeat=1, system_metrics=False, gc_freeze=False)
    Collector(backend, store, settings, clock=clock, cancel=cancel, observer=_CancelAfter(cancel, 6)).run(["Stop me."])


def _token(k: int, input_tokens: int, latency_ms: float, text: str) -> TokenRecord:
    return TokenRecord(k=k, context_size=input_tokens + k - 1, latency_ms=latency_ms,
                       phase="prefill" if k == 1 else "decode", token_id=ord(text), token_text=text,
                       wall_time=WALL_START + k * 0.01, forward_ms=latency_ms * 0.9, sample_ms=latency_ms * 0.05)


def _written_sessions(store: SessionStore) -> None:
    meta = SessionMeta(prompt="metrics please", input_tokens=3, model="hand-written", model_label="writer test",
                       dtype="float16", device="cuda:0", backend="huggingface", attn="sdpa", gpu_name="Test GPU",
                       settings={"max_new_tokens": 10}, environment={"torch": "x", "timing": "device"})
    samples = [(WALL_START + i * 0.05, 50.0 + i, 1000.0 + i, 60.0, 1400.0, 150.0, "" if i % 2 else "power_cap",
                30.0 + i, 512.0 + i) for i in range(5)]
    writer = store.begin_session(meta, metrics_source=lambda: [samples.pop(0)] if samples else [])
    for k in range(1, 11):
        writer.add_token(_token(k, 3, 30.0 if k == 1 else 5.0 + k / 10, "abcdefghij"[k - 1]))
        if k % 2 == 0:
            writer.flush()
    writer.finish()

    failing = SessionMeta(prompt="this one fails", input_tokens=4, model="hand-written", device="cpu",
                          backend="huggingface", quant="int8", dtype="float32")
    writer = store.begin_session(failing)
    for k in range(1, 5):
        writer.add_token(_token(k, 4, 12.0 if k == 1 else 3.0 + k, "wxyz"[k - 1]))
    writer.finish(FAILED, "RuntimeError: CUDA out of memory (simulated)")


def _remote_run(store: SessionStore) -> None:
    sink = StoreSink(store)
    run_id = "run-v2-remote"
    sink.begin_run(run_id, {"settings": {"max_new_tokens": 5}, "remote": {"api": "openai"}, "timing": "arrival"})
    for key, (prompt, words) in enumerate([("Hello server", ["Hi", " there", ",", " friend", "!"]),
                                           ("Second stream", ["One", " two", " three"])]):
        meta = SessionMeta(prompt=prompt, input_tokens=len(prompt.split()) + 2, model="served-model",
                           backend="openai", device="remote", environment={"timing": "arrival"},
                           source="remote")
        sink.begin(key, meta, run_id, {"api": "openai", "endpoint": "chat", "url": "http://127.0.0.1:9/v1",
                                       "queue_ms": 1.5 + key, "http_status": 200})
        # a role-only opener (no content), then one content chunk per word
        sink.chunk(key, (0, 8.0, None, None, 0, "", 0), None, WALL_START)
        arrival = 25.0 + 5 * key
        for n, word in enumerate(words, 1):
            sink.chunk(key, (n, arrival, None if n == 1 else 7.0 + n, 1, 1, word, 0), 4, WALL_START)
            arrival += 7.0 + n
        sink.end(key, "finished", None, None)
    sink.end_run(run_id, {"streams": 2, "tokens_per_s": 123.4})
    sink.close()
    if sink.error is not None:
        raise RuntimeError(sink.error)


def _imported_sessions(store: SessionStore, folder: Path) -> None:
    csv_path = folder / "seed.csv"
    rows = ["Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms"]
    for prompt_id, input_tokens in (("seed-a", 12), ("seed-b", 40)):
        for k in range(1, 6):
            rows.append(f"{prompt_id},{input_tokens},{input_tokens + k - 1},{k},{(50.0 if k == 1 else 8.0 + k / 4)}")
    csv_path.write_text("\n".join(rows) + "\n")
    import_csv(store, csv_path)


def main(target: str) -> None:
    if SCHEMA_VERSION != 2:
        raise SystemExit(f"this script records a schema v2 store; this code writes schema {SCHEMA_VERSION}")
    destination = Path(target)
    if destination.exists():
        raise SystemExit(f"{destination} exists; remove it first")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        store = SessionStore(folder / "data")
        _collector_sessions(store)
        _interrupted_session(store)
        _written_sessions(store)
        _remote_run(store)
        _imported_sessions(store, folder)
        store.close()
        with sqlite3.connect(store.path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file
        shutil.copyfile(store.path, destination)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_name("store-v2.sqlite")))
