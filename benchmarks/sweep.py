"""How does batching scale on this machine? Embedded model, batch 1/8/32/128, 64 tokens, against the roofline.

For each batch size B, B copies of one prompt decode together (profiler/backends/hf_batch_generation.py),
each step timed around `step()` exactly as the profiler's loop times it. Batch sizes run in a shuffled
order each round, so drift (thermal, other load) falls on all of them alike.

Reported per batch: per-token latency p50/p95/p99 (a token's latency is its step's time: every sequence
waits for the whole batch), aggregate tokens/s = B x 1000 / mean step ms, and the roofline floor of a step
for this CPU at the middle context of the run, from two probes:
  - memory bandwidth: numpy copies a 256 MiB array (read + write = 2 x bytes per copy), best of 5;
  - fp32 FLOPS: torch matmul of 1024 x 1024 matrices at torch's thread count, best of 5.
The probes (profiler/sweep/probes.py) and the scaling analysis (model/scaling.py: the throughput exponent
a = log(T2/T1) / log(B2/B1) per step, the knee = the first batch after which a < 0.5) are the ones
`tokenlat-tui sweep` uses. Ends with one JSON line.

    python benchmarks/sweep.py [--batches 1,8,32,128] [--tokens 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.estimate_shape import shape_from_config  # noqa: E402
from model.hardware import Hardware  # noqa: E402
from model.roofline import decode_step_floor  # noqa: E402
from model.scaling import KNEE_EXPONENT, describe, scaling  # noqa: E402
from profiler.backends import BackendOptions, SamplingSettings, load_backend  # noqa: E402
from profiler.backends.embedded import EMBEDDED_CONFIG, EMBEDDED_MODEL_ID  # noqa: E402
from profiler.backends.hf_batch_generation import BatchedHuggingFaceGeneration  # noqa: E402
from profiler.records import percentile  # noqa: E402
from profiler.sweep.probes import fp32_tflops, memory_bandwidth_gb_s  # noqa: E402

PROMPT = "Summarise the trade-off between batch size and per-token latency in one paragraph."


def run_batch(backend, ids: list[int], batch: int, tokens: int) -> list[float]:
    generation = BatchedHuggingFaceGeneration(backend, [ids] * batch, SamplingSettings())
    now = time.perf_counter_ns
    step_ms = []
    try:
        for _ in range(tokens):
            started = now()
            generation.step()
            step_ms.append((now() - started) / 1e6)
    finally:
        generation.close()
    return step_ms[1:]  # the first step is the prefill: TTFT, not a decode step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,8,32,128")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    batches = sorted({int(b) for b in args.batches.split(",")})

    backend = load_backend(BackendOptions())
    torch = backend.torch
    bandwidth = memory_bandwidth_gb_s()
    tflops = fp32_tflops(torch)
    hardware = Hardware(name="this CPU (probed)", count=1, bandwidth_gb_s=bandwidth, tflops_16bit=tflops,
                        tflops_fp32=tflops, memory_bytes=0, runtime_overhead_bytes=0, bf16=False, is_gpu=False)
    shape = shape_from_config(EMBEDDED_CONFIG, EMBEDDED_MODEL_ID)
    ids = backend.encode(PROMPT)
    middle_context = len(ids) + args.tokens // 2
    print(f"probes: memory copy {bandwidth:.1f} GB/s, fp32 matmul {tflops * 1000:.1f} GFLOPS "
          f"(torch threads {torch.get_num_threads()}); prompt {len(ids)} tokens, {args.tokens} generated")

    run_batch(backend, ids, max(batches), 4)  # warm-up at the largest shape: allocator growth, thread pools
    samples: dict[int, list[float]] = {b: [] for b in batches}
    order = list(batches)
    rng = random.Random(args.seed)
    for _ in range(args.rounds):
        rng.shuffle(order)
        for batch in order:
            samples[batch] += run_batch(backend, ids, batch, args.tokens)

    rows, throughput = [], {}
    for batch in batches:
        steps = sorted(samples[batch])
        mean = statistics.fmean(steps)
        throughput[batch] = batch * 1000.0 / mean
        floor = decode_step_floor(shape, hardware, "float32", "none", batch, middle_context)
        rows.append({"batch": batch, "p50_ms": percentile(steps, 50), "p95_ms": percentile(steps, 95),
                     "p99_ms": percentile(steps, 99), "tokens_per_s": throughput[batch], "floor_ms": floor.ms,
                     "bound": floor.bound, "achieved_fraction": floor.ms / percentile(steps, 50)})
    result = scaling(throughput, {row["batch"]: row["p50_ms"] for row in rows})

    print(f"{'batch':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'tok/s':>9} {'floor ms':>9} {'bound':>8} "
          f"{'of floor':>8}")
    for row in rows:
        print(f"{row['batch']:>6} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['p99_ms']:>8.2f} "
              f"{row['tokens_per_s']:>9.1f} {row['floor_ms']:>9.3f} {row['bound']:>8} {row['achieved_fraction']:>8.1%}")
    for line in describe(f"{args.tokens} tokens", result, {row["batch"]: row["bound"] for row in rows}):
        print(line)
    print(json.dumps({"bandwidth_gb_s": bandwidth, "fp32_gflops": tflops * 1000, "knee_batch": result.knee,
                      "knee_exponent": KNEE_EXPONENT, "torch_threads": torch.get_num_threads(), "tokens": args.tokens,
                      "rounds": args.rounds, "batches": rows, "segments": [seg.to_json() for seg in result.segments]}))


if __name__ == "__main__":
    main()
