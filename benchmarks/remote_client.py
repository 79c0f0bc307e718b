"""Remote client accuracy: does the client's stamp of each streamed chunk match when the server sent it?

A local server (benchmarks/schedule_server.py: its own process, so it holds no GIL of the client's)
streams OpenAI-style SSE chunks on a known schedule: one chunk every --interval-ms, every 4th chunk
carrying 3 tokens, per-chunk usage (continuous_usage_stats) on every chunk, and in each chunk's text
the server's perf_counter_ns() taken just before writing it (CLOCK_MONOTONIC: one clock for both
processes), plus when the previous chunk's write returned. The reference is what the server stamped, never
the nominal schedule (a Python server on a busy 2-core box slips its schedule by milliseconds).
The real client (profiler.remote: aiohttp, the store sink and its writer process) runs 1, 8, 32 and 128
concurrent streams, stamping each read three ways -- the kernel's receive stamp (the client's
way), the event loop's select() time, and data_received's time (the way before) -- the levels and
the three ways interleaved over --rounds rounds. The server is the raw one (a few µs of CPU a chunk,
as a server on another machine takes none of the client's); --servers raw,aiohttp interleaves the
aiohttp server this benchmark used before, to show what a server sharing the client's cores costs it.

  gap error: |client gap - server gap| between consecutive content chunks of a stream (ms; goal
             p50 <= 0.2, p99 <= 1 up to 32 streams)
  merged gaps: gaps touching a chunk that one read delivered together with the stream's next chunk (the
             same stamp: the client was more than one interval behind on that socket, so the kernel had
             merged the two packets, keeping the later one's stamp); unmerged gap error: the rest's error
  clean gap error: the same over gaps whose two chunks each left the server within 0.5 ms of its
             stamp (the server wasn't descheduled between stamping and writing): the client's own part
  server write delay: stamp -> write returned, in the server (how late its bytes can leave after the stamp)
  server jitter: server gap - the schedule (how far the test server itself drifted; not the client's)
  cpu per token: the client's user+system CPU time / tokens (its store writer process included)
  one-way: client stamp - server stamp of each chunk (one clock): how late the stamp is, wire
             and the server's own kernel send queue included; `early` counts stamps BEFORE the server
             sent (impossible: a stamp that claims bytes came before they did). Measured with the
             client's stream reader alone (no store), the same server, interleaved with the rest.
  server cpu per chunk: the schedule server's user+system CPU per content chunk sent (/proc/PID/stat)
  steal: the share of the machine's CPU time the hypervisor took while the level ran (/proc/stat)
  run-queue wait: ms per second of the level's wall time that the client's / the server's event-loop
             thread was runnable but not running (/proc/PID/schedstat): the machine's share of the tails, which
             no client code can remove (a process that isn't running can't stamp)

Ends with one JSON line.   python benchmarks/remote_client.py [--chunks 60] [--rounds 2] [--levels 1,8,32,128]
                                                           [--stamps kernel,...] [--servers raw,aiohttp]
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
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import cpu_times, steal_pct  # noqa: E402
from benchmarks.schedule_server import MULTI_TOKENS, SERVERS, tokens_in  # noqa: E402

LEVELS = (1, 8, 32, 128)
STAMPS = ("kernel", "select", "data_received")
"""What the client stamps a read with: the kernel's receive stamp (the client's way), when select()
returned, or when data_received ran (profiler/remote/stamping.py)."""
CLEAN_MS = 0.5
"""A chunk counts as cleanly sent when its write returned within this long of its stamp (ms)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(kind: str, chunks: int, interval_ms: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("schedule_server.py")), str(port),
                                "--chunks", str(chunks), "--interval-ms", str(interval_ms), "--kind", kind])
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1).close()
            return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the {kind} schedule server did not start")


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of another process, from /proc/PID/stat; None where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_queue_wait_ns(pid: int, tid: int) -> int | None:
    """ns the thread waited on a run queue (runnable, not running), from Linux schedstat; None elsewhere."""
    try:
        return int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None


def one_way(url: str, concurrency: int, chunks: int, stamp: str) -> list[float]:
    """Client stamp - server stamp (ms) of every content chunk of `concurrency` streams."""
    from profiler.remote import stamping
    from profiler.remote.client import RemoteClient
    from profiler.remote.options import RemoteOptions
    from profiler.remote.requests import request_body

    stamping.STAMP_AT = stamp
    options = RemoteOptions(server=url)
    body = request_body(options, "bench", max_new_tokens=chunks * MULTI_TOKENS, ignore_eos=False, temperature=0.0,
                        top_p=1.0, seed=0)
    late: list[float] = []

    def on_chunk(chunk, _sent_ns, _facts) -> None:
        sent = int(chunk.text.strip("<>").split(":")[0]) if chunk.content else 0
        if sent:
            late.append((chunk.arrival_ns - sent) / 1e6)

    async def streams() -> None:
        async with RemoteClient(options, None) as client:
            await asyncio.gather(*[client.stream(body, time.perf_counter_ns(), lambda: 0, on_chunk)
                                   for _ in range(concurrency)])

    with asyncio.Runner(loop_factory=stamping.stamping_event_loop) as runner:
        runner.run(streams())
    return late


def percentile(values: list[float], q: float) -> float:
    from profiler.records import percentile as pct

    return pct(sorted(values), q)


def one_level(url: str, concurrency: int, chunks: int, interval_ms: float, data_dir: str, stamp: str,
              server_pid: int) -> dict:
    from profiler.collect import RunSettings
    from profiler.remote import stamping
    from profiler.remote.backend import load_remote_backend
    from profiler.remote.options import RemoteOptions
    from profiler.store import SessionStore
    from profiler.store.chunks import run_sessions, session_chunks

    stamping.STAMP_AT = stamp
    store = SessionStore(data_dir)
    backend = load_remote_backend(RemoteOptions(server=url, concurrency=concurrency, num_requests=concurrency))
    settings = RunSettings(max_new_tokens=chunks * MULTI_TOKENS, warmup=0, system_metrics=False)
    # the client's event loop runs on this thread (it stamps); the server's on its main thread
    threads = ((os.getpid(), threading.get_native_id()), (server_pid, server_pid))
    waits = [run_queue_wait_ns(*thread) for thread in threads]
    machine = cpu_times()
    wall = time.perf_counter()
    before = _cpu_s()
    report = backend.run(store, settings, ["bench"])
    after = _cpu_s()
    wall = time.perf_counter() - wall
    stolen = steal_pct(machine, cpu_times())
    waited = [(end - start) / 1e6 / wall if start is not None and end is not None else None
              for start, end in zip(waits, [run_queue_wait_ns(*thread) for thread in threads])]
    cpu_s = after - before
    errors, clean, jitter, write_delay, unmerged = [], [], [], [], []
    tokens, sources = report.summary["tokens"], report.summary["token_sources"]
    conn = store._connection()
    for session_id in run_sessions(conn, report.run_id):
        rows = [c for c in session_chunks(conn, session_id) if c["content"]]
        stamps = [tuple(int(x) for x in c["text"].strip("<>").split(":")) for c in rows]
        # chunk i's write returned at stamps[i + 1][1]; the closing chunk only carries that
        delays = [(after - before) / 1e6 for (before, _), (_, after) in zip(stamps, stamps[1:])]
        write_delay += delays
        arrival = [c["arrival_ms"] for c in rows]  # the closing chunk's too: is the last timed one merged?
        rows, sent = rows[:-1], [before for before, _ in stamps[:-1]]
        for i, (previous, current) in enumerate(zip(rows, rows[1:])):
            client_gap = current["arrival_ms"] - previous["arrival_ms"]
            server_gap = (sent[i + 1] - sent[i]) / 1e6
            error = abs(client_gap - server_gap)
            errors.append(error)
            # one read delivered a chunk and the next (the kernel merged them: same stamp) -> both gaps it touches
            if arrival[i] != arrival[i + 1] and arrival[i + 1] != arrival[i + 2]:
                unmerged.append(error)
            if delays[i] <= CLEAN_MS and delays[i + 1] <= CLEAN_MS:
                clean.append(error)
            jitter.append(server_gap - interval_ms)
    store.close()
    expected_tokens = concurrency * sum(tokens_in(index) for index in range(chunks))
    return {"errors": errors, "clean": clean, "unmerged": unmerged, "jitter": jitter, "write_delay": write_delay, "tokens": tokens,
            "cpu_s": cpu_s, "sources": sources, "tokens_ok": tokens == expected_tokens,
            "client_wait": [waited[0]] if waited[0] is not None else [],
            "steal": [stolen] if stolen is not None else [],
            "server_wait": [waited[1]] if waited[1] is not None else []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=60, help="content chunks per stream")
    parser.add_argument("--interval-ms", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument("--stamps", default=",".join(STAMPS), help="which stamps to run (kernel is the client's)")
    parser.add_argument("--servers", default="raw",
                        help="schedule servers to interleave: raw (default: a few µs of CPU a chunk), aiohttp")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    stamps = [x for x in args.stamps.split(",") if x]
    kinds = [x for x in args.servers.split(",") if x]
    if unknown := [x for x in stamps if x not in STAMPS] + [x for x in kinds if x not in SERVERS]:
        raise SystemExit(f"unknown stamp or server: {', '.join(unknown)}")
    servers = {kind: start_server(kind, args.chunks, args.interval_ms) for kind in kinds}
    keys = ("errors", "clean", "unmerged", "jitter", "write_delay", "client_wait", "server_wait", "steal", "one_way")
    pooled = {(kind, level, stamp): {**{k: [] for k in keys}, "tokens": 0, "cpu_s": 0.0, "server_cpu_s": 0.0,
                                     "tokens_ok": True, "sources": set()}
              for kind in kinds for level in levels for stamp in stamps}
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            os.environ["TOKENLAT_DATA_DIR"] = data_dir
            for round_index in range(args.rounds):
                # interleaved: each server, level and stamp sees the same machine conditions in turn
                turn = round_index % len(stamps)
                for level in levels:
                    for kind in kinds if round_index % 2 == 0 else kinds[::-1]:
                        process, url = servers[kind]
                        for stamp in stamps[turn:] + stamps[:turn]:
                            server_cpu = process_cpu_s(process.pid)
                            result = one_level(url, level, args.chunks, args.interval_ms, data_dir, stamp,
                                               process.pid)
                            server_cpu = (process_cpu_s(process.pid) or 0.0) - (server_cpu or 0.0)
                            result["one_way"] = one_way(url, level, args.chunks, stamp)
                            entry = pooled[(kind, level, stamp)]
                            for key in keys:
                                entry[key] += result[key]
                            entry["tokens"] += result["tokens"]
                            entry["cpu_s"] += result["cpu_s"]
                            entry["server_cpu_s"] += server_cpu
                            entry["tokens_ok"] &= result["tokens_ok"]
                            entry["sources"].update(result["sources"])
    finally:
        for process, _url in servers.values():
            process.terminate()
            process.wait(10)

    def tails(values: list[float], name: str) -> dict:
        if not values:
            return {f"{name}_p50_ms": None, f"{name}_p95_ms": None, f"{name}_p99_ms": None}
        return {f"{name}_p{q}_ms": round(percentile(values, q), 4) for q in (50, 95, 99)}

    figures: dict = {}
    for (kind, level, stamp), entry in pooled.items():
        f = {**tails(entry["errors"], "gap_error"), **tails(entry["clean"], "clean_gap_error"),
             **tails(entry["unmerged"], "unmerged_gap_error"),
             "merged_gaps_pct": round(100 * (1 - len(entry["unmerged"]) / len(entry["errors"])), 2)
             if entry["errors"] else None,
             **tails(entry["write_delay"], "server_write_delay"),
             "server_jitter_p50_ms": round(percentile(entry["jitter"], 50), 4),
             "server_jitter_p99_ms": round(percentile(entry["jitter"], 99), 4),
             "cpu_us_per_token": round(entry["cpu_s"] / entry["tokens"] * 1e6, 1) if entry["tokens"] else None,
             "server_cpu_us_per_chunk": round(entry["server_cpu_s"] / len(entry["write_delay"]) * 1e6, 1)
             if entry["write_delay"] else None,
             **{f"one_way_{k}": v for k, v in tails(entry["one_way"], "late").items()},
             "one_way_min_ms": round(min(entry["one_way"]), 4) if entry["one_way"] else None,
             "one_way_early": sum(1 for value in entry["one_way"] if value < 0),
             "client_run_queue_ms_per_s": _mean(entry["client_wait"]),
             "steal_pct": _mean(entry["steal"]),
             "server_run_queue_ms_per_s": _mean(entry["server_wait"]),
             "tokens": entry["tokens"], "tokens_counted_right": entry["tokens_ok"],
             "token_sources": sorted(entry["sources"]), "gaps": len(entry["errors"]), "clean_gaps": len(entry["clean"])}
        figures.setdefault(kind, {}).setdefault(stamp, {})[str(level)] = f
        print(f"{kind} server, {level:>4} streams, stamp at {stamp:<13}: gap error p50 "
              f"{f['gap_error_p50_ms']:.3f} / p95 "
              f"{f['gap_error_p95_ms']:.3f} / p99 {f['gap_error_p99_ms']:.3f} ms over {f['gaps']} gaps; clean gaps "
              f"({f['clean_gaps']}) p50 {f['clean_gap_error_p50_ms']} p99 {f['clean_gap_error_p99_ms']} ms; "
              f"{f['merged_gaps_pct']}% of gaps touch a merged read, the rest p99 {f['unmerged_gap_error_p99_ms']} ms; server "
              f"write delay p99 {f['server_write_delay_p99_ms']} ms; jitter p50 {f['server_jitter_p50_ms']:.3f} ms; "
              f"one-way p50 {f['one_way_late_p50_ms']} p99 {f['one_way_late_p99_ms']} min {f['one_way_min_ms']} ms, "
              f"early {f['one_way_early']}/{len(entry['one_way'])}; "
              f"run-queue wait client {f['client_run_queue_ms_per_s']} / server {f['server_run_queue_ms_per_s']} ms/s; "
              f"steal {f['steal_pct']}%; "
              f"client CPU {f['cpu_us_per_token']} us/token; server CPU {f['server_cpu_us_per_chunk']} us/chunk; "
              f"tokens right: {f['tokens_counted_right']}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(json.dumps({"benchmark": "remote_client", "interval_ms": args.interval_ms, "chunks_per_stream": args.chunks,
                      "rounds": args.rounds, "cpus": os.cpu_count(), "load_average_1m": load, "servers": figures}))


def _cpu_s() -> float:
    """User + system CPU seconds of this process and its ended children (the run's store writer process)."""
    return sum(usage.ru_utime + usage.ru_stime
               for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


if __name__ == "__main__":
    main()
