"""Remote client accuracy: does the client's stamp of each streamed chunk match when the server sent it?

A local server (its own process, so it holds no GIL of the client's) streams OpenAI-style SSE chunks
on a known schedule: one chunk every --interval-ms, every 4th chunk carrying 3 tokens, per-chunk
usage (continuous_usage_stats) on every chunk, and in each chunk's text the server's
perf_counter_ns() taken just before writing it (CLOCK_MONOTONIC: one clock for both processes).
The real client (profiler.remote: aiohttp, the sink thread, the store) runs 1, 8, 32 and 128
concurrent streams, the levels interleaved over --rounds rounds.

  gap error: |client gap - server gap| between consecutive content chunks of a stream (ms; goal
             p50 <= 0.2, p99 <= 1 up to 32 streams)
  server jitter: server gap - the schedule (how far the test server itself drifted; not the client's)
  cpu per token: the client process's user+system CPU time / tokens (sink thread and SQLite included)

Ends with one JSON line.   python benchmarks/remote_client.py [--chunks 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LEVELS = (1, 8, 32, 128)
MULTI_EVERY, MULTI_TOKENS = 4, 3


def serve(port: int, chunks: int, interval_ms: float) -> None:
    from aiohttp import web

    async def chat(request):
        await request.json()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        loop = asyncio.get_running_loop()

        def event(delta, usage, finish=None):
            choice = {"index": 0, "delta": delta, **({"finish_reason": finish} if finish else {})}
            return ("data: " + json.dumps({"object": "chat.completion.chunk", "model": "schedule",
                                           "choices": [choice], "usage": usage}) + "\n\n").encode()

        await response.write(event({"role": "assistant"}, {"completion_tokens": 0, "prompt_tokens": 4}))
        start = loop.time()
        total = 0
        for index in range(chunks):
            delay = start + (index + 1) * interval_ms / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            total += MULTI_TOKENS if index % MULTI_EVERY == MULTI_EVERY - 1 else 1
            await response.write(event({"content": f"<{time.perf_counter_ns()}>"},
                                       {"completion_tokens": total, "prompt_tokens": 4}))
        await response.write(event({}, {"completion_tokens": total, "prompt_tokens": 4}, "length"))
        await response.write(b"data: [DONE]\n\n")
        return response

    async def health(_request):
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True, backlog=1024)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(chunks: int, interval_ms: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--chunks", str(chunks),
                                "--interval-ms", str(interval_ms)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1).close()
            return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the schedule server did not start")


def percentile(values: list[float], q: float) -> float:
    from profiler.records import percentile as pct

    return pct(sorted(values), q)


def one_level(url: str, concurrency: int, chunks: int, interval_ms: float, data_dir: str) -> dict:
    from profiler.collect import RunSettings
    from profiler.remote.backend import load_remote_backend
    from profiler.remote.options import RemoteOptions
    from profiler.store import SessionStore
    from profiler.store.chunks import run_sessions, session_chunks

    store = SessionStore(data_dir)
    backend = load_remote_backend(RemoteOptions(server=url, concurrency=concurrency, num_requests=concurrency))
    settings = RunSettings(max_new_tokens=chunks * MULTI_TOKENS, warmup=0, system_metrics=False)
    before = resource.getrusage(resource.RUSAGE_SELF)
    report = backend.run(store, settings, ["bench"])
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    errors, jitter, tokens, sources = [], [], report.summary["tokens"], report.summary["token_sources"]
    conn = store._connection()
    for session_id in run_sessions(conn, report.run_id):
        rows = [c for c in session_chunks(conn, session_id) if c["content"]]
        sent = [int(c["text"].strip("<>")) for c in rows]
        for previous, current, sent_before, sent_now in zip(rows, rows[1:], sent, sent[1:]):
            client_gap = current["arrival_ms"] - previous["arrival_ms"]
            server_gap = (sent_now - sent_before) / 1e6
            errors.append(abs(client_gap - server_gap))
            jitter.append(server_gap - interval_ms)
    store.close()
    expected_tokens = concurrency * (chunks + (chunks // MULTI_EVERY) * (MULTI_TOKENS - 1))
    return {"errors": errors, "jitter": jitter, "tokens": tokens, "cpu_s": cpu_s, "sources": sources,
            "tokens_ok": tokens == expected_tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--chunks", type=int, default=60, help="content chunks per stream")
    parser.add_argument("--interval-ms", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.chunks, args.interval_ms)
        return
    levels = [int(x) for x in args.levels.split(",")]
    process, url = start_server(args.chunks, args.interval_ms)
    pooled = {level: {"errors": [], "jitter": [], "tokens": 0, "cpu_s": 0.0, "tokens_ok": True, "sources": set()}
              for level in levels}
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            os.environ["TOKENLAT_DATA_DIR"] = data_dir
            for _round in range(args.rounds):
                for level in levels:  # interleaved: each level sees the same machine conditions in turn
                    result = one_level(url, level, args.chunks, args.interval_ms, data_dir)
                    entry = pooled[level]
                    entry["errors"] += result["errors"]
                    entry["jitter"] += result["jitter"]
                    entry["tokens"] += result["tokens"]
                    entry["cpu_s"] += result["cpu_s"]
                    entry["tokens_ok"] &= result["tokens_ok"]
                    entry["sources"].update(result["sources"])
    finally:
        process.terminate()
        process.wait(10)
    figures = {}
    for level, entry in pooled.items():
        errors, jitter = entry["errors"], entry["jitter"]
        figures[str(level)] = {
            "gap_error_p50_ms": round(percentile(errors, 50), 4), "gap_error_p95_ms": round(percentile(errors, 95), 4),
            "gap_error_p99_ms": round(percentile(errors, 99), 4),
            "server_jitter_p50_ms": round(percentile(jitter, 50), 4),
            "server_jitter_p99_ms": round(percentile(jitter, 99), 4),
            "cpu_us_per_token": round(entry["cpu_s"] / entry["tokens"] * 1e6, 1) if entry["tokens"] else None,
            "tokens": entry["tokens"], "tokens_counted_right": entry["tokens_ok"],
            "token_sources": sorted(entry["sources"]), "gaps": len(errors),
        }
        f = figures[str(level)]
        print(f"{level:>4} streams: gap error p50 {f['gap_error_p50_ms']:.3f} / p95 {f['gap_error_p95_ms']:.3f} / "
              f"p99 {f['gap_error_p99_ms']:.3f} ms over {f['gaps']} gaps; server jitter p50 "
              f"{f['server_jitter_p50_ms']:.3f} p99 {f['server_jitter_p99_ms']:.3f} ms; client CPU "
              f"{f['cpu_us_per_token']} us/token; tokens counted right: {f['tokens_counted_right']}")
    print(json.dumps({"benchmark": "remote_client", "interval_ms": args.interval_ms, "chunks_per_stream": args.chunks,
                      "rounds": args.rounds, "cpus": os.cpu_count(), "levels": figures}))


if __name__ == "__main__":
    main()
