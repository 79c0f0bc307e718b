"""Store speed: token append throughput through the real SessionWriter, and listing a big store.

  append: tokens/s through SessionWriter.add_token + flush_if_due (commits every 64 tokens), the
          path the decode loop uses (goal >= 100k tokens/s)
  list:   a fresh SessionStore opening a store of 10k sessions holding 2M tokens and listing every
          session with its summary (goal < 0.5 s)

Ends with one JSON line.   python benchmarks/store.py [--sessions 10000] [--tokens-per-session 200]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from profiler.records import DECODE, PREFILL, SessionMeta, TokenRecord  # noqa: E402
from profiler.store import SessionStore  # noqa: E402


def append_throughput(data_dir: str, tokens: int) -> float:
    store = SessionStore(data_dir)
    writer = store.begin_session(SessionMeta(prompt="bench", input_tokens=16, model="bench"))
    now = time.time()
    records = [TokenRecord(k, 16 + k - 1, 5.0, PREFILL if k == 1 else DECODE, k % 256, "x", now)
               for k in range(1, tokens + 1)]
    start = time.perf_counter()
    for record in records:
        writer.add_token(record)
        writer.flush_if_due()
    writer.finish()
    return tokens / (time.perf_counter() - start)


def fill_big_store(data_dir: str, sessions: int, tokens_per_session: int) -> None:
    store = SessionStore(data_dir)
    store.close()
    conn = sqlite3.connect(store.path)
    conn.execute("PRAGMA synchronous=OFF")  # building the fixture only; the listing is what's timed
    now = time.time()
    with conn:
        for index in range(sessions):
            session_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO sessions (id, status, started, prompt, input_tokens, model, tokens, ttft_ms,"
                " decode_p50_ms, decode_p95_ms, decode_p99_ms, decode_mean_ms, tokens_per_s)"
                " VALUES (?, 'finished', ?, 'p', 16, 'bench', ?, 20, 5, 6, 7, 5, 200)",
                (session_id, f"2026-01-01T00:00:{index:09d}", tokens_per_session))
            conn.executemany(
                "INSERT INTO tokens (session_id, k, context_size, latency_ms, phase, token_id, token_text, wall_time)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [(session_id, k, 16 + k - 1, 5.0, "decode", 1, "x", now) for k in range(1, tokens_per_session + 1)])
    conn.close()


def list_time(data_dir: str) -> float:
    start = time.perf_counter()
    store = SessionStore(data_dir)  # opening includes the orphan sweep, as every CLI start does
    listed = store.list_sessions()
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed, len(listed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--tokens-per-session", type=int, default=200)
    parser.add_argument("--append-tokens", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as append_dir:
        rates = [append_throughput(f"{append_dir}/{i}", args.append_tokens) for i in range(3)]
    append_rate = statistics.median(rates)
    print(f"append: {append_rate:,.0f} tokens/s (runs: {', '.join(f'{r:,.0f}' for r in rates)}; goal >= 100,000)")
    with tempfile.TemporaryDirectory() as big_dir:
        fill_big_store(big_dir, args.sessions, args.tokens_per_session)
        times = []
        for _ in range(5):
            elapsed, count = list_time(big_dir)
            times.append(elapsed)
    list_s = statistics.median(times)
    total_tokens = args.sessions * args.tokens_per_session
    print(f"list: {count:,} sessions holding {total_tokens:,} tokens in {list_s * 1000:.1f} ms "
          f"(runs: {', '.join(f'{t * 1000:.1f}' for t in times)}; goal < 500 ms)")
    print(json.dumps({"append_tokens_per_s": append_rate, "list_sessions": count, "list_tokens": total_tokens,
                      "list_seconds": list_s}))


if __name__ == "__main__":
    main()
