"""The GPU paths of gpu_check: CUDA-event timing, NVML sampling, bitsandbytes, static cache + compile,
a random-weights 7B against the estimator, and a batch sweep. The runner skips them without CUDA."""

from __future__ import annotations

import statistics
import time
from typing import Any

from benchmarks.gpu_checks.common import PROMPT, StoreRuns, require


class GpuPaths(StoreRuns):
    def cuda_event_timing(self) -> dict[str, Any]:
        import torch

        from profiler.backends import BackendOptions, load_backend
        from profiler.backends.base import SamplingSettings

        backend = load_backend(BackendOptions(device="cuda"))
        rows = []
        try:
            for _round in range(2):  # the first generation warms up (kernels, allocator); the second is read
                generation = backend.start(backend.encode(PROMPT), SamplingSettings())
                rows = []
                try:
                    for _k in range(48):
                        torch.cuda.synchronize()
                        started = time.perf_counter_ns()
                        out = generation.step()
                        torch.cuda.synchronize()
                        host_ns = time.perf_counter_ns() - started
                        rows.append((host_ns, out.forward_ns, out.sample_ns))
                finally:
                    generation.close()
        finally:
            backend.close()
        require(all(f is not None and s is not None for _h, f, s in rows), "steps without CUDA-event times")
        decode = rows[1:]
        ratios = [(f + s) / h for h, f, s in decode]
        over = [(f + s) - h for h, f, s in decode if f + s > h * 1.01 + 20_000]
        require(not over, f"{len(over)} token(s) whose events outlast the host window around them")
        gaps_us = sorted((h - f - s) / 1000 for h, f, s in decode)
        return {"tokens": len(decode), "events_over_host_median": round(statistics.median(ratios), 4),
                "events_over_host_min": round(min(ratios), 4),
                "host_minus_events_us_p50": round(gaps_us[len(gaps_us) // 2], 1),
                "host_minus_events_us_max": round(gaps_us[-1], 1),
                "host_ms_median": round(statistics.median(h for h, _f, _s in decode) / 1e6, 4)}

    def nvml_sampling(self) -> dict[str, Any]:
        import torch

        from profiler.system_metrics import MetricsSampler

        sampler = MetricsSampler("cuda")
        sampler.start()
        try:
            a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
            until = time.monotonic() + 3.0
            while time.monotonic() < until:  # real work, so clocks, power and temperature move
                for _ in range(20):
                    a = (a @ a).clamp_(-1, 1)
                torch.cuda.synchronize()
        finally:
            sampler.stop()
        samples = sampler.drain()
        require(len(samples) >= 20, f"{len(samples)} samples in 3 s (20 Hz expected)")
        columns = ("wall_time", "gpu_util", "gpu_mem_mb", "gpu_temp_c", "sm_clock_mhz", "power_w", "throttle_reasons")
        values = {name: [s[i] for s in samples] for i, name in enumerate(columns)}
        present = {name: all(v is not None for v in values[name]) for name in columns[1:]}
        require(all(present.values()), f"NVML fields missing: {[n for n, ok in present.items() if not ok]}")
        changing = {name: len(set(values[name])) > 1 for name in ("gpu_util", "gpu_temp_c", "sm_clock_mhz", "power_w",
                                                                  "throttle_reasons")}
        require(changing["power_w"] or changing["gpu_temp_c"] or changing["sm_clock_mhz"],
                "power, temperature and SM clock never changed under load")
        return {"samples": len(samples), "changing": changing,
                "sm_clock_mhz": [min(values["sm_clock_mhz"]), max(values["sm_clock_mhz"])],
                "power_w": [round(min(values["power_w"]), 1), round(max(values["power_w"]), 1)],
                "temp_c": [min(values["gpu_temp_c"]), max(values["gpu_temp_c"])],
                "throttle_reasons": sorted(set(values["throttle_reasons"]))}

    def bitsandbytes(self, quant: str) -> dict[str, Any]:
        import torch

        from model.estimate import estimate_from_names
        from profiler.backends import BackendOptions

        baseline = torch.cuda.memory_allocated()  # what earlier checks left alive (compile caches) is not ours

        def loaded(_backend) -> float:
            torch.cuda.synchronize()
            return torch.cuda.memory_allocated() - baseline

        options = BackendOptions(random_weights=self.small, quant=quant, device="cuda", dtype="float16",
                                 data_dir=str(self.data_dir))
        session_id, tokens, measured = self._collect(options, tokens=16, after_load=loaded)
        self.trace_sessions.append(session_id)
        estimated = estimate_from_names(self.small, quant=quant, dtype="float16", gpu=self.facts["gpu"])
        ratio = measured / estimated.weights_bytes
        require(len(tokens) == 16, f"{len(tokens)} tokens decoded, not 16")
        # a sanity band, not a target: the estimator counts bitsandbytes' scales and its 16-bit lm_head
        require(0.5 <= ratio <= 2.0, f"allocated {measured / 2**20:.0f} MiB vs estimated "
                                     f"{estimated.weights_bytes / 2**20:.0f} MiB")
        decode = [t["latency_ms"] for t in tokens if t["phase"] == "decode"]
        return {"model": self.small, "allocated_mib": round(measured / 2**20, 1),
                "estimated_weights_mib": round(estimated.weights_bytes / 2**20, 1),
                "allocated_over_estimate": round(ratio, 3),
                "decode_p50_ms": round(statistics.median(decode), 3)}

    def static_compile(self) -> dict[str, Any]:
        from profiler.backends import BackendOptions

        runs = {}
        for name, options in (("dynamic", BackendOptions(device="cuda", dtype="float32", batch=1)),
                              ("static_compile", BackendOptions(device="cuda", dtype="float32", batch=1,
                                                                cache="static", compile=True))):
            runs[name] = self._collect_batch(options, batch=1, tokens=64)
        dynamic, compiled = runs["dynamic"], runs["static_compile"]
        equal = dynamic["token_ids"] == compiled["token_ids"]
        first_difference = next((i + 1 for i, (a, b) in enumerate(zip(dynamic["token_ids"], compiled["token_ids"]))
                                 if a != b), None)
        require(equal, f"greedy tokens differ from k={first_difference}")
        return {"tokens_equal": equal, "tokens": len(dynamic["token_ids"]),
                "dynamic_step_p50_ms": dynamic["summary"]["step_p50_ms"],
                "static_compile_step_p50_ms": compiled["summary"]["step_p50_ms"],
                "speedup": round(dynamic["summary"]["step_p50_ms"] / compiled["summary"]["step_p50_ms"], 3),
                "compile_ms": compiled["summary"]["compile_ms"]}

    def random_weights_7b(self) -> dict[str, Any]:
        import torch

        from model.efficiency import session_efficiency
        from model.estimate import estimate_from_names
        from profiler.backends import BackendOptions

        baseline = torch.cuda.memory_allocated()  # what earlier checks left alive (compile caches) is not ours

        def loaded(_backend) -> float:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return torch.cuda.memory_allocated() - baseline

        tokens_wanted = 32
        options = BackendOptions(random_weights=self.big, device="cuda", dtype="bfloat16")
        session_id, tokens, weights = self._collect(options, tokens=tokens_wanted, after_load=loaded)
        peak = torch.cuda.max_memory_allocated() - baseline
        self.trace_sessions.append(session_id)
        session = self.store.get_session(session_id)
        estimated = estimate_from_names(self.big, dtype="bfloat16", gpu=self.facts["gpu"], batch=1,
                                        input_tokens=session["input_tokens"], output_tokens=tokens_wanted)
        efficiency = session_efficiency(session)
        out = {"model": self.big, "weights_allocated_gib": round(weights / 2**30, 3),
               "weights_estimated_gib": round(estimated.weights_bytes / 2**30, 3),
               "peak_allocated_gib": round(peak / 2**30, 3),
               "peak_estimated_gib": round(estimated.peak_memory_bytes / 2**30, 3),
               "estimate_hardware": estimated.hardware, "decode_p50_ms": session["decode_p50_ms"],
               "decode_floor_ms": round(estimated.decode_ms_per_token_floor, 4)}
        require(abs(weights / estimated.weights_bytes - 1) < 0.05,
                f"weights: {out['weights_allocated_gib']} GiB allocated vs {out['weights_estimated_gib']} estimated")
        if efficiency is None:
            out["achieved_fraction"] = None
            out["note"] = f"the GPU table has no row for {self.facts['gpu']!r}: no bandwidth fraction"
        else:
            out["achieved_fraction"] = round(efficiency.fraction, 4)
            out["floor_at_median_context_ms"] = round(efficiency.floor_ms, 4)
            require(0 < efficiency.fraction <= 1.0,
                    f"measured decode beat the roofline floor ({efficiency.fraction:.2f})")
        return out

    def batch_sweep(self) -> dict[str, Any]:
        from profiler.backends import BackendOptions

        out = {}
        for batch in (1, 8, 32):
            run = self._collect_batch(BackendOptions(device="cuda", batch=batch), batch=batch, tokens=32)
            out[str(batch)] = {"step_p50_ms": run["summary"]["step_p50_ms"],
                               "aggregate_tokens_per_s": run["summary"]["aggregate_tokens_per_s"],
                               "peak_memory_mb": run["summary"]["peak_memory_mb"]}
        require(out["32"]["aggregate_tokens_per_s"] > out["1"]["aggregate_tokens_per_s"],
                "batch 32 gave no more tokens/s than batch 1")
        return {"batches": out}
