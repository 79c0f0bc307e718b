"""Store speed: token append throughput through the real SessionWriter, and listing a big store.

  append: tokens/s through SessionWriter.add_token + flush_if_due (commits every 64 tokens), the
          path the decode loop uses (goal >= 100k tokens/s)
  list:   a fresh SessionStore opening a store of 10k sessions holding 2M tokens and listing every
          session with its summary (goal < 0.5 s)
  scale:  at 10k, 100k and 300k sessions (--scale-sessions; stores built by bulk SQL): the CLI's
          `tokenlat-tui sessions` table and `sessions --json --limit 100` (wall time of the whole
          process, interpreter start included), and the first page the app's table loads (a fresh
          SessionStore + the app's page of its newest 500 sessions, in process) (goal < 1 s each)
  memory: peak RSS (ru_maxrss of the child process) of `tokenlat-tui export --all` from a store of
          --memory-tokens tokens (default 2M), and of `tokenlat-tui import` of that CSV into an
          empty store (goal < 200 MB each)

Ends with one JSON line.   python benchmarks/store.py [--sessions 10000] [--tokens-per-session 200]
   [--scale-sessions 10000,100000,300000] [--memory-tokens 2000000]   (defaults: ~3 min on 2 cores)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import statistics
import subprocess
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
                (session_id, started_at(index), tokens_per_session))
            conn.executemany(
                "INSERT INTO tokens (session_id, k, context_size, latency_ms, phase, token_id, token_text, wall_time)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [(session_id, k, 16 + k - 1, 5.0, "decode", 1, "x", now) for k in range(1, tokens_per_session + 1)])
    conn.close()


BASE = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
REPO = Path(__file__).resolve().parent.parent


def started_at(index: int) -> str:
    """A real ISO time per session (export writes it, import checks it), one second apart."""
    return (BASE + dt.timedelta(seconds=index)).isoformat()


def fill_sessions(data_dir: str, sessions: int) -> None:
    """`sessions` finished sessions of 4 tokens each, by bulk SQL (300k imports would take minutes)."""
    store = SessionStore(data_dir)
    store.close()
    conn = sqlite3.connect(store.path)
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        conn.executemany(
            "INSERT INTO sessions (id, status, started, prompt, input_tokens, model, tokens, ttft_ms,"
            " decode_p50_ms, decode_p95_ms, decode_p99_ms, decode_mean_ms, tokens_per_s)"
            " VALUES (?, 'finished', ?, 'p', 16, 'bench', 4, 20, 5, 6, 7, 5, 200)",
            ((f"s{index:07d}", started_at(index)) for index in range(sessions)))
    conn.close()


def cli_seconds(data_dir: str, *args: str) -> float:
    """Wall time of one `tokenlat-tui ARGS` process (what a user waits for)."""
    env = dict(os.environ, TOKENLAT_DATA_DIR=data_dir, COLUMNS="160")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"tokenlat-tui {' '.join(args)} failed: {result.stderr.strip()}")
    return elapsed


APP_PAGE = 500
"""tui/screens/main.py's SESSIONS_PAGE: the app's table lists the newest this many (not imported:
that would time textual's import too)."""


def first_page_seconds(data_dir: str) -> float:
    start = time.perf_counter()
    store = SessionStore(data_dir)
    page = store.session_page(APP_PAGE)
    elapsed = time.perf_counter() - start
    store.close()
    assert len(page) == APP_PAGE
    return elapsed


def scale(sizes: list[int]) -> dict[str, dict[str, float]]:
    figures = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as data_dir:
            fill_sessions(data_dir, size)
            table = min(cli_seconds(data_dir, "sessions") for _ in range(3))
            as_json = min(cli_seconds(data_dir, "sessions", "--json", "--limit", "100") for _ in range(3))
            page = min(first_page_seconds(data_dir) for _ in range(3))
        figures[str(size)] = {"sessions_table_s": table, "sessions_json_limit_100_s": as_json, "first_page_s": page}
        print(f"scale: {size:,} sessions: `sessions` {table * 1000:.0f} ms, `sessions --json --limit 100` "
              f"{as_json * 1000:.0f} ms, app's first page {page * 1000:.1f} ms (best of 3; goal < 1000 ms)")
    return figures


def peak_rss_mb(data_dir: str, *args: str) -> float:
    """Peak RSS of one `tokenlat-tui ARGS` process: a small parent reads RUSAGE_CHILDREN (its only child)."""
    measure = ("import resource, subprocess, sys\n"
               "r = subprocess.run([sys.executable, '-m', 'tui', *sys.argv[1:]], capture_output=True, text=True)\n"
               "sys.stderr.write(r.stderr)\n"
               "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    env = dict(os.environ, TOKENLAT_DATA_DIR=data_dir)
    result = subprocess.run([sys.executable, "-c", measure, *args], cwd=REPO, env=env, capture_output=True, text=True)
    returncode, max_rss_kib = result.stdout.split()
    if returncode != "0":
        raise SystemExit(f"tokenlat-tui {' '.join(args)} failed: {result.stderr.strip()}")
    return int(max_rss_kib) / 1024  # Linux reports KiB


def memory(tokens: int) -> dict[str, float]:
    sessions = max(1, tokens // 200)
    with tempfile.TemporaryDirectory() as work:
        source, target, csv_path = f"{work}/source", f"{work}/target", f"{work}/all.csv"
        fill_big_store(source, sessions, tokens // sessions)
        start = time.perf_counter()
        export_mb = peak_rss_mb(source, "export", "--all", "-o", csv_path)
        export_s = time.perf_counter() - start
        csv_mb = os.path.getsize(csv_path) / 2**20
        start = time.perf_counter()
        import_mb = peak_rss_mb(target, "import", csv_path)
        import_s = time.perf_counter() - start
    print(f"memory: {sessions * (tokens // sessions):,} tokens: export peak {export_mb:.0f} MB ({export_s:.1f} s), "
          f"import of its {csv_mb:.0f} MB CSV peak {import_mb:.0f} MB ({import_s:.1f} s) (goal < 200 MB each)")
    return {"memory_tokens": sessions * (tokens // sessions), "export_peak_mb": export_mb, "export_s": export_s,
            "import_peak_mb": import_mb, "import_s": import_s, "csv_mb": csv_mb}


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
    parser.add_argument("--scale-sessions", default="10000,100000,300000",
                        help="comma-separated store sizes for the sessions/first-page timings ('' skips them)")
    parser.add_argument("--memory-tokens", type=int, default=2_000_000,
                        help="tokens in the store exported and imported for peak memory (0 skips it)")
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
    figures = {"append_tokens_per_s": append_rate, "list_sessions": count, "list_tokens": total_tokens,
               "list_seconds": list_s}
    sizes = [int(size) for size in args.scale_sessions.split(",") if size.strip()]
    if sizes:
        figures["scale"] = scale(sizes)
    if args.memory_tokens > 0:
        figures.update(memory(args.memory_tokens))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
