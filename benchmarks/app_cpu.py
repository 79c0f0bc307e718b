"""Where does the app's CPU land around a session? The real app in tmux, at torch's default threads.

Samples the app process's threads (`/proc/PID/task/*/schedstat`, time on a CPU) every 5 ms through
one run (a warm-up and a measured session) and splits the app's CPU by phase: inside each session's
prefill window (its first token's timed interval: what lands in TTFT) and per second of its decode
tokens. Prints one JSON line per session, with the engine's settle record (profiler/engine/settle.py).

    python benchmarks/app_cpu.py [TOKENS]
"""
import bisect
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from tmux_terminal import Terminal  # noqa: E402

from profiler.store import SessionStore  # noqa: E402

PROMPT = "Why is decoding memory-bound?"


def threads_cpu(pid: int) -> dict[str, int]:
    """Time on a CPU so far (ns) of each of the process's threads, by thread id."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out[tid] = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended between listing and reading
    return out


def cpu_between(samples: list, times: list[float], start: float, end: float) -> float:
    """The app's CPU-ms between two wall times, from the samples just outside them."""
    i = max(bisect.bisect_left(times, start) - 1, 0)
    j = min(bisect.bisect_right(times, end), len(samples) - 1)
    before, after = samples[i][1], samples[j][1]
    return sum(max(ns - before.get(tid, 0), 0) for tid, ns in after.items()) / 1e6


def main(tokens: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="tokenlat-app-cpu-"))
    data = work / "data"
    terminal = Terminal("app-cpu", data, work)
    terminal.start_app(omp_threads=None)  # torch's default threads: what a user gets
    samples = []
    try:
        app = terminal.app_process()
        terminal.wait_loaded()
        terminal.start_run(PROMPT, tokens, warmup=1)
        store = SessionStore(data)
        deadline = time.time() + 600
        while time.time() < deadline:
            samples.append((time.time(), threads_cpu(app.pid)))
            if len([s for s in store.list_sessions() if s["status"] == "finished"]) >= 2:
                break
            time.sleep(0.005)
    finally:
        terminal.kill_server()
    times = [sample[0] for sample in samples]
    for session in sorted(store.list_sessions(with_environment=True), key=lambda s: s["started"]):
        stored = store.session_tokens(session["id"])
        first, last = stored[0], stored[-1]
        prefill_start = first["wall_time"] - first["latency_ms"] / 1000
        decode_s = last["wall_time"] - first["wall_time"]
        print(json.dumps({
            "warmup": session["warmup"], "threads": session["environment"].get("torch_threads"),
            "ttft_ms": round(session["ttft_ms"], 1), "decode_p50_ms": round(session["decode_p50_ms"], 2),
            "app_cpu_ms_in_prefill": round(cpu_between(samples, times, prefill_start, first["wall_time"]), 1),
            "app_cpu_ms_per_s_of_decode": round(cpu_between(samples, times, first["wall_time"],
                                                            last["wall_time"]) / decode_s, 1),
            "app_settle": session["environment"].get("app_settle"),
            "load_1min": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 128)
