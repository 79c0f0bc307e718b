"""How fast the app starts and leaves: first frame, `--help`, and exit after a hang-up or SIGTERM.

First frame: `python -m tui` in tmux until the screen shows its panels (the model loads later, in
the engine). `--help`: the CLI's help, in a fresh process. Exit: the app's process gone after its
terminal is killed (SIGHUP) mid-run, and after SIGTERM while idle. Rounds interleave the measures.
Ends with one JSON line. Goals: first frame < 1.5 s, --help < 0.5 s, exit < 2 s.

    python benchmarks/startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def time_help(env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tui", "--help"], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def time_first_frame(work: Path, name: str):
    from tmux_terminal import Terminal

    terminal = Terminal(name, work / name, work)
    started = time.perf_counter()
    terminal.start_app()
    terminal.wait_for(lambda s: "prompt · settings" in s and "sessions" in s, timeout=60, poll_s=0.05)
    return time.perf_counter() - started, terminal


def time_exit(process, send) -> float:
    """Seconds from the signal until the process has exited (a zombie counts: reaping is its parent's job)."""
    from tmux_terminal import wait_gone

    started = time.perf_counter()
    send()
    if not wait_gone(process, 30):
        return float("inf")
    return time.perf_counter() - started


def main(rounds: int) -> dict:
    from tmux_terminal import engines_of, shown_tokens

    work = Path(tempfile.mkdtemp(prefix="tokenlat-startup-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENLAT_DATA_DIR=str(work / "help"))
    helps, frames, hangups, terms = [], [], [], []
    for number in range(rounds):
        helps.append(time_help(env))
        first_frame, terminal = time_first_frame(work, f"r{number}")
        frames.append(first_frame)
        app = terminal.app_process()
        if number % 2 == 0:
            # hang up mid-run: the app must go at once, the engine goes on (then we end it)
            terminal.wait_loaded()
            terminal.start_run("exit timing", 3000)
            terminal.wait_for(lambda s: (shown_tokens(s) or 0) > 10, timeout=120)
            hangups.append(time_exit(app, terminal.kill_server))
        else:
            terminal.wait_loaded()
            terms.append(time_exit(app, lambda: app.send_signal(signal.SIGTERM)))
            terminal.kill_server()
        for engine in engines_of(work / f"r{number}"):
            engine.send_signal(signal.SIGTERM)
        print(f"round {number + 1}: --help {helps[-1]:.3f} s  first frame {frames[-1]:.3f} s  "
              f"exit {(hangups if number % 2 == 0 else terms)[-1]:.3f} s", flush=True)
    return {"rounds": rounds,
            "first_frame_s_median": round(statistics.median(frames), 3), "first_frame_s_max": round(max(frames), 3),
            "help_s_median": round(statistics.median(helps), 3), "help_s_max": round(max(helps), 3),
            "hangup_mid_run_exit_s_max": round(max(hangups), 3) if hangups else None,
            "sigterm_idle_exit_s_max": round(max(terms), 3) if terms else None}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    load_before = os.getloadavg()[0]
    result = main(arguments.rounds)
    result["load_before"], result["load_after"] = round(load_before, 2), round(os.getloadavg()[0], 2)
    print(json.dumps(result))
