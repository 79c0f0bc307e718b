"""Does the live app disturb what it measures? The real app in a real terminal vs headless `collect`.

App side: `python -m tui` in tmux (120x36), the prompt typed once, ctrl+r per run; the engine process
keeps the model loaded across runs, as a user's would, while the app redraws live. Headless side:
`tokenlat-tui collect` (its own process, warm-up 1, the measured session only). Runs alternate
ABBA-style for `--pairs` pairs so drift (thermal, other load) falls on both sides equally, and every
figure is read back from the store. Per pair: ratios of decode p50, p95 and p99 (app / headless),
and garbage collections inside timed tokens on each side. Ends with one JSON line.

    python benchmarks/fidelity.py [--pairs 6] [--tokens 256] [--threads 1]

Goals: p50 <= 1.03, p95 <= 1.05, p99 <= 1.10, GC-in-token count <= headless + 2 per 100 tokens.
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
    from profiler.records import percentile

    tokens = store.session_tokens(session_id)
    decode = sorted(t["latency_ms"] for t in tokens if t["phase"] == "decode")
    return {"p50": percentile(decode, 50), "p95": percentile(decode, 95), "p99": percentile(decode, 99),
            "gc": sum(t["gc_collections"] for t in tokens), "tokens": len(tokens)}


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


def main(pairs: int, tokens: int, threads: int) -> dict:
    from tmux_terminal import Terminal

    work = Path(tempfile.mkdtemp(prefix="tokenlat-fidelity-"))
    app_dir, headless_dir = work / "app", work / "headless"
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENLAT_DATA_DIR=str(headless_dir), HF_HUB_OFFLINE="1",
               OMP_NUM_THREADS=str(threads))
    os.environ["OMP_NUM_THREADS"] = str(threads)  # the tmux app inherits it too
    terminal = Terminal("fidelity", app_dir, work)
    terminal.start_app(env=f"OMP_NUM_THREADS={threads}")
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
            print(f"pair {pair + 1}: p50 {a['p50']:.3f}/{h['p50']:.3f} ms  p95 {a['p95']:.3f}/{h['p95']:.3f}  "
                  f"p99 {a['p99']:.3f}/{h['p99']:.3f}  gc {a['gc']}/{h['gc']}  (app/headless)  "
                  f"UI CPU {a['ui_cpu_s']:.2f} s", flush=True)
    finally:
        terminal.kill_server()

    def ratio(key: str) -> float:
        # the two runs of a pair are adjacent in time: the median of per-pair ratios cancels drift
        return round(statistics.median(a[key] / h[key] for a, h in zip(app, headless)), 4)

    measured_tokens = sum(a["tokens"] for a in app)
    result = {
        "pairs": pairs, "tokens": tokens, "threads": threads,
        "app_over_headless_p50_ratio": ratio("p50"), "app_over_headless_p95_ratio": ratio("p95"),
        "app_over_headless_p99_ratio": ratio("p99"),
        "per_pair_p99_ratios": [round(a["p99"] / h["p99"], 4) for a, h in zip(app, headless)],
        "app_gc_in_tokens": sum(a["gc"] for a in app), "headless_gc_in_tokens": sum(h["gc"] for h in headless),
        "app_gc_per_100_tokens": round(100 * sum(a["gc"] for a in app) / measured_tokens, 2),
        "headless_gc_per_100_tokens": round(100 * sum(h["gc"] for h in headless) / sum(h["tokens"] for h in headless), 2),
        "app_ui_cpu_s_per_run": round(statistics.median(a["ui_cpu_s"] for a in app), 3),
        "app_decode_p50_ms": round(statistics.median(a["p50"] for a in app), 4),
        "headless_decode_p50_ms": round(statistics.median(h["p50"] for h in headless), 4),
        "load_before": os.getloadavg()[0],
    }
    print(f"median per-pair ratios: p50 {result['app_over_headless_p50_ratio']} (goal <= 1.03), "
          f"p95 {result['app_over_headless_p95_ratio']} (<= 1.05), p99 {result['app_over_headless_p99_ratio']} (<= 1.10); "
          f"GC in timed tokens: app {result['app_gc_in_tokens']}, headless {result['headless_gc_in_tokens']}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS for both sides (default 1)")
    arguments = parser.parse_args()
    load_before = os.getloadavg()
    result = main(arguments.pairs, arguments.tokens, arguments.threads)
    result["load_before"], result["load_after"] = round(load_before[0], 2), round(os.getloadavg()[0], 2)
    print(json.dumps(result))
