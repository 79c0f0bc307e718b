"""What does measuring cost? Per-token decode time on the embedded model, interleaved in one run:

  (a) bare:      a hand-written loop — forward with the KV cache, argmax, .item() — recording nothing
  (b) profiler:  the real Collector: timing every token, GC watch, metrics sampler, SQLite store
  (c) generate:  transformers' model.generate() for the same number of tokens (greedy)
  (d) profiler without scheduler accounting (issue 17): the real Collector with the per-token
                 CPU-wait reads switched off, so (b) - (d) is what that accounting costs per token

The accounting's cost is also measured directly: what the loop adds per token (SchedWatch.begin and
.end: two schedstat preads, one or two getrusage calls), timed in a tight loop, far below the A/B's noise.
`--accounting-only` runs just (b) and (d) interleaved, plus the direct cost.

Each round runs the three in rotated order on the same prompt; per-token time is a generation's
whole wall time / tokens (prefill included, same in all three), so the profiler's recording and
flushing count against it. Also prints the embedded model's own figures (tokens/s at short
context; how latency grows over one 1024-token run). Ends with one JSON line.

    python benchmarks/overhead.py [--tokens 256] [--rounds 15] [--accounting-only]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from profiler.backends import BackendOptions, SamplingSettings, load_backend  # noqa: E402
from profiler.collect import Collector, RunSettings  # noqa: E402
from profiler.store import SessionStore  # noqa: E402

PROMPT = "Explain why the KV cache makes decoding cheaper than re-encoding the whole sequence."


def bare_loop(backend, ids: list[int], tokens: int) -> float:
    torch = backend.torch
    model = backend.model
    start = time.perf_counter_ns()
    with torch.inference_mode():
        cache = backend.new_cache()
        next_ids = torch.tensor([ids])
        for _ in range(tokens):
            out = model(input_ids=next_ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
            next_ids = out.logits[:, -1, :].argmax(-1)
            next_ids.item()
            next_ids = next_ids.view(1, 1)
    return (time.perf_counter_ns() - start) / 1e6 / tokens


def profiler_loop(backend, store: SessionStore, tokens: int, scheduler_accounting: bool = True) -> float:
    collector = Collector(backend, store, RunSettings(max_new_tokens=tokens, ignore_eos=True, warmup=0, repeat=1,
                                                      gc_freeze=False, sampling=SamplingSettings()),
                          scheduler_accounting=scheduler_accounting)
    start = time.perf_counter_ns()
    (outcome,) = collector.run([PROMPT])
    elapsed = (time.perf_counter_ns() - start) / 1e6
    assert outcome.tokens == tokens, outcome
    return elapsed / tokens


def accounting_cost_us(tokens: int = 200_000, clock=time.thread_time_ns) -> float:
    """What the decode loop adds per token for the scheduler accounting: SchedWatch.begin + .end (µs).

    Timed in this thread's CPU time by default: on a busy box, wall time would add the very waits for
    a CPU that the accounting records, which are the machine's, not its cost."""
    from profiler.sched_watch import SchedWatch

    with SchedWatch() as watch:
        begin, end = watch.begin, watch.end
        start = clock()
        for _ in range(tokens):
            end(begin())
        return (clock() - start) / 1e3 / tokens


def accounting_ab(backend, store: SessionStore, tokens: int, rounds: int) -> dict:
    """(b) vs (d), alternated (ABBA) so drift in the machine's state falls on both alike."""
    arms = {"on": [], "off": []}
    for round_index in range(rounds):
        order = ("on", "off") if round_index % 2 == 0 else ("off", "on")
        for arm in order:
            arms[arm].append(profiler_loop(backend, store, tokens, scheduler_accounting=arm == "on"))
    extra_us = [(on - off) * 1000.0 for on, off in zip(arms["on"], arms["off"])]
    return {"accounting_on_ms_per_token": statistics.median(arms["on"]),
            "accounting_off_ms_per_token": statistics.median(arms["off"]),
            "accounting_extra_us_per_token_ab": statistics.median(extra_us),
            "accounting_extra_us_per_token_ab_rounds": [round(v, 2) for v in extra_us],
            "accounting_cost_us_per_token_direct": accounting_cost_us(),
            "accounting_cost_us_per_token_direct_wall": accounting_cost_us(clock=time.perf_counter_ns)}


def print_accounting(figures: dict) -> None:
    print(f"scheduler accounting: {figures['accounting_extra_us_per_token_ab']:+.2f} µs/token in the A/B "
          f"(median of per-round differences; on {figures['accounting_on_ms_per_token']:.3f} vs off "
          f"{figures['accounting_off_ms_per_token']:.3f} ms/token), {figures['accounting_cost_us_per_token_direct']:.2f}"
          f" µs/token of CPU measured directly ({figures['accounting_cost_us_per_token_direct_wall']:.2f} µs wall; "
          "goal <= 2)")


def generate_loop(backend, ids: list[int], tokens: int) -> float:
    torch = backend.torch
    start = time.perf_counter_ns()
    with torch.inference_mode():
        out = backend.model.generate(torch.tensor([ids]), max_new_tokens=tokens, min_new_tokens=tokens,
                                     do_sample=False, pad_token_id=backend.model.config.pad_token_id)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    assert out.shape[1] - len(ids) == tokens
    return elapsed / tokens


def growth(backend, store: SessionStore) -> dict:
    """One 1024-token run: early vs late decode latency (the embedded model must show context growth)."""
    collector = Collector(backend, store, RunSettings(max_new_tokens=1024, ignore_eos=True, warmup=0))
    (outcome,) = collector.run([PROMPT[:40]])
    latencies = {t["k"]: t["latency_ms"] for t in store.session_tokens(outcome.session_id)}
    early = statistics.median(latencies[k] for k in range(10, 111))
    late = statistics.median(latencies[k] for k in range(900, 1001))
    return {"early_median_ms": early, "late_median_ms": late, "growth_ratio": late / early,
            "tokens_per_s_short_context": 1000.0 / early}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--accounting-only", action="store_true",
                        help="only the scheduler accounting's A/B (profiler with and without it) and its direct cost")
    args = parser.parse_args()
    backend = load_backend(BackendOptions())
    ids = backend.encode(PROMPT)
    with tempfile.TemporaryDirectory() as data_dir:
        store = SessionStore(data_dir)
        if args.accounting_only:
            profiler_loop(backend, store, args.tokens)  # untimed: lazy init, allocator growth
            accounting = accounting_ab(backend, store, args.tokens, args.rounds)
            print_accounting(accounting)
            print(json.dumps({"tokens": args.tokens, "rounds": args.rounds, **accounting}))
            return
        runners = {
            "bare": lambda: bare_loop(backend, ids, args.tokens),
            "profiler": lambda: profiler_loop(backend, store, args.tokens),
            "generate": lambda: generate_loop(backend, ids, args.tokens),
        }
        for run in runners.values():  # one untimed pass each: lazy init, allocator growth
            run()
        results: dict[str, list[float]] = {name: [] for name in runners}
        names = list(runners)
        for round_index in range(args.rounds):
            order = names[round_index % 3:] + names[:round_index % 3]
            for name in order:
                results[name].append(runners[name]())
        medians = {name: statistics.median(values) for name, values in results.items()}
        # the three runs of a round are adjacent in time and share the machine's state (clocks,
        # other load), so the median of per-round ratios is far steadier than a ratio of medians
        paired = {other: statistics.median(p / o for p, o in zip(results["profiler"], results[other]))
                  for other in ("bare", "generate")}
        for name, values in results.items():
            print(f"{name:9s} per-token ms: median {medians[name]:.3f}  (rounds: {', '.join(f'{v:.3f}' for v in values)})")
        grown = growth(backend, store)
        accounting = accounting_ab(backend, store, args.tokens, args.rounds)
    print(f"embedded model: {grown['tokens_per_s_short_context']:.0f} tokens/s at short context; "
          f"median tokens 10-110 {grown['early_median_ms']:.2f} ms, 900-1000 {grown['late_median_ms']:.2f} ms "
          f"(x{grown['growth_ratio']:.2f})")
    figures = {
        "tokens": args.tokens, "rounds": args.rounds,
        "bare_ms_per_token": medians["bare"], "profiler_ms_per_token": medians["profiler"],
        "generate_ms_per_token": medians["generate"],
        "profiler_over_bare_ratio": paired["bare"],
        "profiler_over_generate_ratio": paired["generate"],
        "profiler_over_bare_ratio_of_medians": medians["profiler"] / medians["bare"],
        **{f"embedded_{k}": v for k, v in grown.items()},
        **accounting,
    }
    print_accounting(accounting)
    print(f"profiler/bare {figures['profiler_over_bare_ratio']:.3f} (goal <= 1.03); "
          f"profiler/generate {figures['profiler_over_generate_ratio']:.3f} (goal <= 1.0); median of per-round ratios")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
