"""Does the live app disturb what it measures? The real app in a real terminal vs headless `collect`.

App side: `python -m tui` in tmux (120x36), the prompt typed once, ctrl+r per run; the engine process
keeps the model loaded across runs, as a user's would, while the app redraws live. Headless side:
`tokenlat-tui collect` (its own process, warm-up 1, the measured session only). Runs alternate
ABBA-style for `--pairs` pairs so drift (thermal, other load) falls on both sides equally, and every
figure is read back from the store. Per pair: ratios of TTFT, decode p50, p95 and p99 (app /
headless), and garbage collections inside timed tokens on each side.

Thread counts: by default it measures twice, side by side — at torch's DEFAULT thread count
(OMP_NUM_THREADS unset on both sides: what a user gets) and at 1 thread — each with its own app.
`--threads 4` (or `--threads default,1,4`) measures the settings given. Every result carries the
thread count torch actually used (`threads`, read from the sessions' environment) and the setting.

The app process's own CPU time per run (user + system, the view's cost) is reported with the run's
length, so its share of a core is visible. Ends with ONE JSON line: {"results": [one per setting]}.

    python benchmarks/fidelity.py [--pairs 6] [--tokens 256] [--threads default,1]

Goals: TTFT (median of sessions) <= 1.10, p50 <= 1.03, p95 <= 1.05, p99 <= 1.10, GC-in-token count
<= headless + 2 per 100 tokens. Figures need a quiet machine: on a busy one they measure the box.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PROMPT = "Why is decoding memory-bound?"  # short: the editor must show it on one line


def session_figures(store, session_id: str) -> dict:
    import datetime as dt

    from profiler.records import percentile

    tokens = store.session_tokens(session_id)
    session = store.get_session(session_id)
    decode = sorted(t["latency_ms"] for t in tokens if t["phase"] == "decode")
    ttft = next((t["latency_ms"] for t in tokens if t["phase"] == "prefill"), None)
    started, ended = (dt.datetime.fromisoformat(session[k]) for k in ("started", "ended"))
    return {"ttft": ttft, "p50": percentile(decode, 50), "p95": percentile(decode, 95),
            "p99": percentile(decode, 99), "gc": sum(t["gc_collections"] for t in tokens), "tokens": len(tokens),
            "cpu_wait_ms": sum(t["cpu_wait_ms"] or 0.0 for t in tokens),
            "run_s": (ended - started).total_seconds(),
            "torch_threads": session["environment"].get("torch_threads")}


def newest_measured(store, known: set[str]) -> str | None:
    new = [s for s in store.list_sessions() if s["id"] not in known and not s["warmup"] and s["status"] != "running"]
    return new[0]["id"] if new else None


def run_headless(data_dir: Path, tokens: int, env: dict) -> dict:
    from profiler.store import SessionStore

    store = SessionStore(data_dir)
    known = {s["id"] for s in store.list_sessions()}
    subprocess.run([sys.executable, "-m", "tui", "collect", PROMPT, "--max-new-tokens", str(tokens), "--ignore-eos",
                    "--warmup", "1", "--json"], cwd=ROOT, env=env, check=True, capture_output=True)
    return session_figures(store, newest_measured(store, known))


def run_in_app(terminal, app_process, data_dir: Path) -> dict:
    from profiler.store import SessionStore

    store = SessionStore(data_dir)
    known = {s["id"] for s in store.list_sessions()}
    cpu_before = sum(app_process.cpu_times()[:2])
    terminal.keys("C-r")
    deadline = time.monotonic() + 600
    while (session_id := newest_measured(store, known)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the app's run did not finish:\n" + terminal.screen())
        time.sleep(0.25)  # the benchmark's own polling is light: 4 small queries a second
    figures = session_figures(store, session_id)
    figures["ui_cpu_s"] = sum(app_process.cpu_times()[:2]) - cpu_before
    return figures


def thread_env(base: dict, threads: int | None) -> dict:
    """The environment of a side: OMP_NUM_THREADS set, or (None) removed so torch picks its default."""
    env = dict(base)
    env.pop("OMP_NUM_THREADS", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def measure(pairs: int, tokens: int, threads: int | None) -> dict:
    """One thread setting: an app of its own (the engine's thread count is fixed when it starts)."""
    from tmux_terminal import Terminal

    work = Path(tempfile.mkdtemp(prefix="tokenlat-fidelity-"))
    app_dir, headless_dir = work / "app", work / "headless"
    env = thread_env(dict(os.environ, PYTHONPATH=str(ROOT), TOKENLAT_DATA_DIR=str(headless_dir),
                          HF_HUB_OFFLINE="1"), threads)
    setting = "default" if threads is None else str(threads)
    terminal = Terminal(f"fidelity-{setting}", app_dir, work)
    terminal.start_app(omp_threads=threads)
    try:
        app_process = terminal.app_process()
        terminal.wait_loaded()
        terminal.start_run(PROMPT, tokens, warmup=0)  # the first app run warms the engine; discarded
        from profiler.store import SessionStore

        store = SessionStore(app_dir)
        while not [s for s in store.list_sessions() if s["status"] == "finished"]:
            time.sleep(0.5)
        time.sleep(1.0)
        app, headless = [], []
        for pair in range(pairs):
            order = ("headless", "app") if pair % 2 == 0 else ("app", "headless")
            for side in order:
                if side == "app":
                    app.append(run_in_app(terminal, app_process, app_dir))
                else:
                    headless.append(run_headless(headless_dir, tokens, env))
            a, h = app[-1], headless[-1]
            print(f"threads {setting} pair {pair + 1}: TTFT {a['ttft']:.2f}/{h['ttft']:.2f} ms  "
                  f"p50 {a['p50']:.3f}/{h['p50']:.3f}  p95 {a['p95']:.3f}/{h['p95']:.3f}  "
                  f"p99 {a['p99']:.3f}/{h['p99']:.3f}  gc {a['gc']}/{h['gc']}  (app/headless)  "
                  f"app CPU {a['ui_cpu_s']:.2f} s over a {a['run_s']:.1f} s run", flush=True)
    finally:
        terminal.kill_server()

    def ratio(key: str) -> float:
        # the two runs of a pair are adjacent in time: the median of per-pair ratios cancels drift
        return round(statistics.median(a[key] / h[key] for a, h in zip(app, headless)), 4)

    def median(side: list[dict], key: str) -> float:
        return statistics.median(run[key] for run in side)

    measured_tokens = sum(a["tokens"] for a in app)
    used = {run["torch_threads"] for run in app + headless}
    return {
        "threads": used.pop() if len(used) == 1 else sorted(used, key=str),
        "threads_setting": setting, "pairs": pairs, "tokens": tokens,
        # as the issue reads TTFT: the median of each side's sessions, then their ratio
        "app_over_headless_ttft_ratio": round(median(app, "ttft") / median(headless, "ttft"), 4),
        "app_ttft_ms": round(median(app, "ttft"), 3), "headless_ttft_ms": round(median(headless, "ttft"), 3),
        "per_pair_ttft_ratio": ratio("ttft"),
        "app_over_headless_p50_ratio": ratio("p50"), "app_over_headless_p95_ratio": ratio("p95"),
        "app_over_headless_p99_ratio": ratio("p99"),
        "per_pair_p99_ratios": [round(a["p99"] / h["p99"], 4) for a, h in zip(app, headless)],
        "app_gc_in_tokens": sum(a["gc"] for a in app), "headless_gc_in_tokens": sum(h["gc"] for h in headless),
        "app_gc_per_100_tokens": round(100 * sum(a["gc"] for a in app) / measured_tokens, 2),
        "headless_gc_per_100_tokens": round(100 * sum(h["gc"] for h in headless) / sum(h["tokens"] for h in headless), 2),
        # the view's cost: the app process's CPU-seconds per run, the run's length, and their ratio
        "app_cpu_s_per_run": round(median(app, "ui_cpu_s"), 3),
        "app_run_s": round(median(app, "run_s"), 2),
        "app_cpu_share_of_a_core": round(median(app, "ui_cpu_s") / median(app, "run_s"), 3),
        # the scheduler's own account of both sides' waits for a CPU (profiler/sched_watch.py)
        "app_cpu_wait_ms_per_run": round(median(app, "cpu_wait_ms"), 2),
        "headless_cpu_wait_ms_per_run": round(median(headless, "cpu_wait_ms"), 2),
        "app_decode_p50_ms": round(median(app, "p50"), 4),
        "headless_decode_p50_ms": round(median(headless, "p50"), 4),
    }


def parse_threads(text: str) -> list[int | None]:
    settings = []
    for part in text.split(","):
        part = part.strip()
        if part == "default":
            settings.append(None)
        elif part.isdigit() and int(part) >= 1:
            settings.append(int(part))
        else:
            raise SystemExit(f"--threads: {part!r} is neither 'default' nor a thread count >= 1")
    return settings


def side_by_side(results: list[dict]) -> None:
    rows = [("threads (setting)", lambda r: f"{r['threads']} ({r['threads_setting']})"),
            ("TTFT app/headless", lambda r: f"{r['app_over_headless_ttft_ratio']:.3f} (goal <= 1.10)"),
            ("decode p50", lambda r: f"{r['app_over_headless_p50_ratio']:.3f} (<= 1.03)"),
            ("decode p95", lambda r: f"{r['app_over_headless_p95_ratio']:.3f} (<= 1.05)"),
            ("decode p99", lambda r: f"{r['app_over_headless_p99_ratio']:.3f} (<= 1.10)"),
            ("app CPU-s per run", lambda r: f"{r['app_cpu_s_per_run']:.2f} over {r['app_run_s']:.1f} s"),
            ("GC per 100 tokens", lambda r: f"{r['app_gc_per_100_tokens']} / {r['headless_gc_per_100_tokens']}")]
    for name, cell in rows:
        print(f"{name:20s} " + "   ".join(f"{cell(r):28s}" for r in results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--threads", default="default,1",
                        help="thread settings to measure, comma-separated: 'default' (OMP_NUM_THREADS unset: torch's "
                             "default) or a count; default 'default,1', side by side")
    arguments = parser.parse_args()
    load_before = os.getloadavg()
    results = [measure(arguments.pairs, arguments.tokens, threads) for threads in parse_threads(arguments.threads)]
    side_by_side(results)
    print(json.dumps({"results": results, "load_before": round(load_before[0], 2),
                      "load_after": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count()}))
