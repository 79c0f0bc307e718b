"""Does the live app disturb what it measures? The same prompt, headless vs inside the app.

Headless: `Collector` straight on the embedded model. In the app: the same backend driven from the
app's worker thread, with the sparkline and figures redrawing live (a headless `run_test` app: the
full Textual event loop and rendering, minus a real terminal). Runs alternate ABBA-style for
`--pairs` pairs so drift (thermal, other load) falls on both sides equally. Prints the median
decode latency of each side and ends with one JSON line; the goal is app_over_headless_ratio <= 1.03.

    python benchmarks/fidelity.py [--pairs 7] [--tokens 160]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPT = "Explain, step by step, why decoding one token at a time is bound by memory bandwidth."


def decode_median(store, session_id: str) -> float:
    return statistics.median(t["latency_ms"] for t in store.session_tokens(session_id) if t["phase"] == "decode")


def run_headless(backend, store, settings) -> float:
    from profiler.collect import Collector

    outcome = Collector(backend, store, settings).run([PROMPT])[-1]
    return decode_median(store, outcome.session_id)


async def run_in_app(app, pilot, store) -> float:
    before = {s["id"] for s in store.list_sessions()}
    await pilot.press("ctrl+r")
    # wait on the worker itself: a polling loop here would be load the real app doesn't have
    await app.workers.wait_for_complete()
    await pilot.pause()
    new = [s for s in store.list_sessions() if s["id"] not in before and not s["warmup"]]
    return decode_median(store, new[0]["id"])


async def main(pairs: int, tokens: int) -> dict:
    from textual.widgets import Input, TextArea

    from profiler.backends import BackendOptions, load_backend
    from profiler.collect import RunSettings
    from profiler.store import SessionStore
    from tui.app import make_app

    backend = load_backend(BackendOptions())
    store = SessionStore(tempfile.mkdtemp(prefix="tokenlat-fidelity-"))
    settings = RunSettings(max_new_tokens=tokens, ignore_eos=True, warmup=0)
    run_headless(backend, store, RunSettings(max_new_tokens=tokens, ignore_eos=True, warmup=1))  # warm both paths

    headless, in_app = [], []
    app = make_app(store=store, backend=backend)
    async with app.run_test(size=(120, 36)) as pilot:
        app.main.query_one("#prompt", TextArea).text = PROMPT
        app.main.query_one("#max-new-tokens", Input).value = str(tokens)
        app.main.query_one("#warmup", Input).value = "0"
        await pilot.pause()
        for pair in range(pairs):
            order = ("headless", "app") if pair % 2 == 0 else ("app", "headless")
            for side in order:
                if side == "headless":
                    # the app stays open and idle meanwhile, as a user's would between runs
                    headless.append(await asyncio.to_thread(run_headless, backend, store, settings))
                else:
                    in_app.append(await run_in_app(app, pilot, store))
            print(f"pair {pair + 1}: headless {headless[-1]:.3f} ms  app {in_app[-1]:.3f} ms", flush=True)
    headless_median, app_median = statistics.median(headless), statistics.median(in_app)
    # the two runs of a pair are adjacent in time: the median of per-pair ratios cancels the
    # machine's drift that a ratio of the two medians keeps
    paired_ratio = statistics.median(a / h for a, h in zip(in_app, headless))
    print(f"median decode latency: headless {headless_median:.3f} ms, in the app {app_median:.3f} ms; "
          f"median per-pair ratio {paired_ratio:.4f} (goal <= 1.03)")
    return {"pairs": pairs, "tokens": tokens, "device": backend.info.device, "model": backend.info.model,
            "headless_median_decode_ms": round(headless_median, 4), "app_median_decode_ms": round(app_median, 4),
            "app_over_headless_ratio": round(paired_ratio, 4),
            "app_over_headless_ratio_of_medians": round(app_median / headless_median, 4)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=160)
    arguments = parser.parse_args()
    print(json.dumps(asyncio.run(main(arguments.pairs, arguments.tokens))))
