"""What does measuring a batch cost? Per-step time of B sequences on the embedded model, interleaved in one run:

  (a) bare:      a hand-written batched loop — left-padded prompts, forward with the KV cache, attention
                 mask and positions, argmax, .tolist() — recording nothing
  (c) generation class alone: the profiler's BatchedHuggingFaceGeneration stepped, nothing recorded --
                 a control: it does (a)'s arithmetic, so generation/bare shows how far two equal loops
                 read apart on this machine, and profiler/generation the recording's cost alone
  (b) profiler:  the real batched collection (profiler/batch_collect.py): timing every step, B token
                 records per step, GC watch, metrics sampler, B sessions and a run in the SQLite store

Same method as benchmarks/overhead.py: each round runs both, in alternating order, on the same B
prompts; per-step time is a generation's whole wall time / steps (prefill included, same in both), so
the profiler's session set-up, recording and flushing count against it. The figure is the median of
per-round ratios profiler/bare (goal <= 1.03), at each batch size. On a busy machine the ratio is
noisy; a steadier figure of the recording's own cost is also printed: the profiler run's wall time
outside its timed steps (set-up, records, flushes, finishing) as a fraction of the steps' time, and
the ratio of this process's CPU time (other processes' load is not in it), and the profiler without
its 20 Hz metrics sampler in the same rounds (the sampler's share apart). Ends with one JSON line.

    python benchmarks/batch_overhead.py [--batches 1,8] [--tokens 128] [--rounds 11]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from profiler.backends import BackendOptions, SamplingSettings, load_backend  # noqa: E402
from profiler.backends.hf_batch_generation import BatchedHuggingFaceGeneration, left_pad  # noqa: E402
from profiler.batch_collect import collect_batch  # noqa: E402
from profiler.collect import RunSettings  # noqa: E402
from profiler.store import SessionStore  # noqa: E402

PROMPTS = ["Explain why the KV cache makes decoding cheaper than re-encoding the whole sequence.",
           "Name three causes of latency spikes.", "Why batch?", "Summarise the roofline model in two sentences."]


def prompts_for(batch: int) -> list[str]:
    return [PROMPTS[i % len(PROMPTS)] for i in range(batch)]


def bare_loop(backend, batch_ids: list[list[int]], tokens: int) -> tuple[float, float]:
    torch = backend.torch
    model = backend.model
    start, cpu_start = time.perf_counter_ns(), time.process_time_ns()
    with torch.inference_mode():
        cache = backend.new_cache()
        ids, mask = left_pad(batch_ids, 0)
        next_ids = torch.tensor(ids)
        mask = torch.tensor(mask)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        ones = torch.ones((len(batch_ids), 1), dtype=torch.long)
        for _ in range(tokens):
            out = model(input_ids=next_ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                        use_cache=True, logits_to_keep=1)
            next_ids = out.logits[:, -1, :].argmax(-1)
            next_ids.tolist()
            next_ids = next_ids.view(-1, 1)
            mask = torch.cat([mask, ones], dim=-1)
            positions = positions[:, -1:] + 1
    return (time.perf_counter_ns() - start) / 1e6 / tokens, (time.process_time_ns() - cpu_start) / 1e6 / tokens


def generation_only(backend, batch_ids: list[list[int]], tokens: int) -> tuple[float, float]:
    """The profiler's own generation class stepped with nothing recorded: (profiler / this) is the
    recording's cost alone, and (this / bare) how far two loops doing the same arithmetic read apart
    here, i.e. the resolution of the profiler/bare figure on this machine."""
    start, cpu_start = time.perf_counter_ns(), time.process_time_ns()
    generation = BatchedHuggingFaceGeneration(backend, batch_ids, SamplingSettings())
    for _ in range(tokens):
        generation.step()
    generation.close()
    return (time.perf_counter_ns() - start) / 1e6 / tokens, (time.process_time_ns() - cpu_start) / 1e6 / tokens


def profiler_loop(backend, store: SessionStore, prompts: list[str], tokens: int,
                  outside: list[float], gc_inside: list[float], system_metrics: bool = True) -> tuple[float, float]:
    """Per-step wall time of a batched collection; appends to `outside` the time spent outside the timed
    steps (session set-up, records, flushes, finishing) as a fraction of the steps' own time, and to
    `gc_inside` the garbage collections' time inside the timed steps (the GC watch's) as the same fraction."""
    settings = RunSettings(max_new_tokens=tokens, ignore_eos=True, warmup=0, repeat=1, gc_freeze=False,
                           sampling=SamplingSettings(), system_metrics=system_metrics)
    start, cpu_start = time.perf_counter_ns(), time.process_time_ns()
    run = collect_batch(backend, store, settings, prompts, batch=len(prompts))
    elapsed = (time.perf_counter_ns() - start) / 1e6
    cpu = (time.process_time_ns() - cpu_start) / 1e6
    assert all(s.tokens == tokens for s in run.sessions), run.sessions
    tokens_stored = store.session_tokens(run.sessions[0].session_id)
    timed = sum(t["latency_ms"] for t in tokens_stored)
    outside.append((elapsed - timed) / timed)
    gc_inside.append(sum(t["gc_ms"] or 0.0 for t in tokens_stored) / timed)
    return elapsed / tokens, cpu / tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    backend = load_backend(BackendOptions())
    figures: dict = {"tokens": args.tokens, "rounds": args.rounds, "torch_threads": backend.torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as data_dir:
        store = SessionStore(data_dir)
        for batch in batches:
            prompts = prompts_for(batch)
            batch_ids = [backend.encode(p) for p in prompts]
            outside: list[float] = []
            gc_inside: list[float] = []
            unused: list[float] = []
            # the third runner is the profiler without its 20 Hz metrics sampler: what the loop and the
            # store cost apart from the sampler, measured in the same rounds
            runners = {"bare": lambda: bare_loop(backend, batch_ids, args.tokens),
                       "generation_only": lambda: generation_only(backend, batch_ids, args.tokens),
                       "profiler": lambda: profiler_loop(backend, store, prompts, args.tokens, outside, gc_inside),
                       "no_metrics": lambda: profiler_loop(backend, store, prompts, args.tokens, unused, unused,
                                                           system_metrics=False)}
            for run in runners.values():  # one untimed pass each: lazy init, allocator growth
                run()
            outside.clear()  # the untimed pass's set-up is not a round's
            gc_inside.clear()
            results: dict[str, list[float]] = {name: [] for name in runners}
            cpu: dict[str, list[float]] = {name: [] for name in runners}
            # garbage collections per run, by generation: a full (gen 2) collection walks every object
            # torch and transformers made, so a loop that allocates more pays for it inside its steps
            collections: dict[str, list[int]] = {name: [0, 0, 0] for name in runners}
            names = list(runners)
            for round_index in range(args.rounds):
                for name in names if round_index % 2 == 0 else names[::-1]:
                    before = [generation["collections"] for generation in gc.get_stats()]
                    wall_ms, cpu_ms = runners[name]()
                    after = [generation["collections"] for generation in gc.get_stats()]
                    collections[name] = [total + a - b for total, a, b in zip(collections[name], after, before)]
                    results[name].append(wall_ms)
                    cpu[name].append(cpu_ms)
            medians = {name: statistics.median(values) for name, values in results.items()}
            # both runs of a round are adjacent in time and share the machine's state, so the median of
            # per-round ratios is far steadier than a ratio of medians
            ratios = sorted(p / b for p, b in zip(results["profiler"], results["bare"]))
            ratio = statistics.median(ratios)
            # this process's CPU time (all its threads: the metrics sampler counts) is what the recording
            # costs without other processes' load in it; it leaves out waits (none on a decode step here)
            cpu_ratio = statistics.median(p / b for p, b in zip(cpu["profiler"], cpu["bare"]))
            no_metrics_ratio = statistics.median(p / b for p, b in zip(results["no_metrics"], results["bare"]))
            control_ratio = statistics.median(g / b for g, b in zip(results["generation_only"], results["bare"]))
            recording_ratio = statistics.median(p / g for p, g in zip(results["profiler"], results["generation_only"]))
            for name, values in results.items():
                print(f"batch {batch:>3} {name:9s} per-step ms: median {medians[name]:.3f}  "
                      f"(rounds: {', '.join(f'{v:.3f}' for v in values)})")
            outside_median = statistics.median(outside)
            print(f"batch {batch:>3} garbage collections per run, gen 0/1/2: " + "; ".join(
                f"{name} {'/'.join(f'{c / args.rounds:.1f}' for c in counts)}" for name, counts in collections.items())
                + f"; the profiler's collections took {statistics.median(gc_inside):.2%} of its timed steps (median)")
            print(f"batch {batch:>3} profiler/bare {ratio:.3f} (goal <= 1.03; per-round ratios "
                  f"{ratios[0]:.3f} .. {ratios[-1]:.3f}); time outside the timed steps "
                  f"{outside_median:.2%} of theirs (median); CPU time profiler/bare {cpu_ratio:.3f}; "
                  f"without the metrics sampler {no_metrics_ratio:.3f}")
            print(f"batch {batch:>3} control: generation class alone / bare {control_ratio:.3f} (same arithmetic: how "
                  f"far apart two equal loops read here); profiler / generation class alone {recording_ratio:.3f} "
                  f"(the recording's own cost)")
            figures[f"batch_{batch}"] = {"bare_ms_per_step": medians["bare"],
                                         "profiler_ms_per_step": medians["profiler"],
                                         "profiler_over_bare_ratio": ratio,
                                         "ratio_min": ratios[0], "ratio_max": ratios[-1],
                                         "outside_steps_fraction": outside_median,
                                         "gc_inside_steps_fraction": statistics.median(gc_inside),
                                         "cpu_time_ratio": cpu_ratio,
                                         "no_metrics_ms_per_step": medians["no_metrics"],
                                         "no_metrics_over_bare_ratio": no_metrics_ratio,
                                         "generation_only_over_bare_ratio": control_ratio,
                                         "profiler_over_generation_only_ratio": recording_ratio,
                                         "gc_collections_per_run": {name: [c / args.rounds for c in counts]
                                                                    for name, counts in collections.items()}}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
