"""One prepared run that proves every path only a GPU shows, and answers in one JSON line.

    python benchmarks/gpu_check.py [--budget-s 480] [--big mistral-7b-v0.1] [--small qwen2.5-0.5b]

Every check calls the project's own code (no re-implementation): the backends and their CUDA-event
step timer, the NVML sampler, bitsandbytes through `--quant`, the batched loop with the static
cache and torch.compile, `--random-weights` of a shipped architecture, the estimator behind
`estimate --gpu`, the profiled pass of `collect --breakdown`, and the trace export.

    prerequisites       torch, transformers (needed); CUDA, pynvml, bitsandbytes (each GPU check says
                        which it needs). Nothing is installed: a lent GPU machine reaches no network.
    cpu_decode          the embedded model on the CPU: a stored session with every token
    trace_export        that session (and every GPU session below) as a trace, read back: every slice
                        lasts its token's stored latency to the ns; NVML counters on GPU sessions
    breakdown           the profiled pass on the CPU: classes add up to the step within 10 %
    cuda_event_timing   per token: the CUDA events' forward + sampling time against
                        torch.cuda.synchronize() + the host clock around the same step
    nvml_sampling       the 20 Hz sampler during GPU work: clock, temperature, power, throttle reasons
                        present, and changing
    bitsandbytes_8bit / bitsandbytes_4bit   load + decode of a small random-weights architecture;
                        allocated weight memory against the estimator's weight bytes
    static_compile      static cache + torch.compile against the dynamic cache: greedy tokens equal,
                        decode speed-up
    random_weights_7b   a 7B architecture with random weights: memory against `estimate --gpu` for this
                        card, decode floor, achieved fraction of bandwidth
    batch_sweep         batch 1 / 8 / 32: step time and aggregate tokens/s
    breakdown_cuda      the profiled pass with CUDA activities: kernel time per class

On a machine without a GPU every GPU check is reported `skipped` with its reason and the CPU checks
run: exit 0 when nothing failed (skips are not failures), 1 otherwise. Progress goes to stderr;
stdout gets the one JSON line. The store is a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
PROMPT = "Explain in a few words why a decode step reads every weight once."
NEEDED = ("torch", "transformers")
OPTIONAL = {"pynvml": "nvml_sampling", "bitsandbytes": "bitsandbytes_8bit, bitsandbytes_4bit", "psutil": "CPU samples"}


class Skip(Exception):
    """A check that can't run here; its message is the reason."""


def log(text: str) -> None:
    print(f"gpu_check: {text}", file=sys.stderr, flush=True)


def prerequisites() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in (*NEEDED, *OPTIONAL):
        try:
            module = importlib.import_module(name)
            found[name] = getattr(module, "__version__", "present")
        except Exception as exc:  # noqa: BLE001 - a broken install is as absent as a missing one
            found[name] = None
            found[f"{name}_error"] = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    missing = [name for name in NEEDED if found[name] is None]
    if missing:
        found["missing"] = missing
        return found
    import torch

    found["cuda"] = torch.cuda.is_available()
    found["gpu"] = torch.cuda.get_device_name(0) if found["cuda"] else None
    found["gpu_count"] = torch.cuda.device_count() if found["cuda"] else 0
    found["cuda_version"] = torch.version.cuda
    return found


class Checks:
    def __init__(self, budget_s: float, data_dir: Path, facts: dict[str, Any], big: str, small: str) -> None:
        self.deadline = time.monotonic() + budget_s
        self.data_dir = data_dir
        self.facts = facts
        self.big, self.small = big, small
        self.results: dict[str, dict[str, Any]] = {}
        self.trace_sessions: list[str] = []
        from profiler.store import SessionStore

        self.store = SessionStore(data_dir)

    def run(self, name: str, check: Callable[[], dict[str, Any]], *, needs_gpu: bool = False,
            needs: tuple[str, ...] = ()) -> None:
        started = time.monotonic()
        try:
            if needs_gpu and not self.facts["cuda"]:
                raise Skip("no CUDA device: torch.cuda.is_available() is False "
                           f"(torch {self.facts['torch']}, built for CUDA {self.facts['cuda_version']})")
            for module in needs:
                if self.facts.get(module) is None:
                    raise Skip(f"{module} is not importable: {self.facts.get(module + '_error', 'not installed')}")
            if time.monotonic() > self.deadline:
                raise Skip("the time budget (--budget-s) ran out before this check")
            log(f"{name}…")
            result = {"status": PASS, **check()}
        except Skip as exc:
            result = {"status": SKIPPED, "reason": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a failed check is reported, the others still run
            message = str(exc).splitlines()[0][:300] if str(exc) else ""
            result = {"status": FAIL, "reason": f"{type(exc).__name__}: {message}",
                      "where": traceback.format_exc().strip().splitlines()[-3][:300]}
        finally:
            if self.facts["cuda"]:
                _free_gpu()  # the next check's memory figures start from an empty allocator
        result["seconds"] = round(time.monotonic() - started, 2)
        if result["status"] != SKIPPED:
            log(f"{name}: {result['status']} ({result['seconds']} s)")
        self.results[name] = result

    # -- CPU paths (run everywhere)
    def cpu_decode(self) -> dict[str, Any]:
        from profiler.backends import BackendOptions

        session_id, tokens = self._collect(BackendOptions(device="cpu"), tokens=16)
        self.trace_sessions.append(session_id)
        decode = [t["latency_ms"] for t in tokens if t["phase"] == "decode"]
        _require(len(tokens) == 16, f"{len(tokens)} tokens stored, not 16")
        return {"session": session_id, "tokens": len(tokens), "decode_p50_ms": round(statistics.median(decode), 3),
                "samples": len(self.store.session_metrics(session_id))}

    def trace_export(self) -> dict[str, Any]:
        from decimal import Decimal

        from profiler.trace import read_trace_sessions, write_trace

        _require(bool(self.trace_sessions), "no session to export (cpu_decode failed)")
        items = read_trace_sessions(self.store, self.trace_sessions)
        path = self.data_dir / "gpu_check_trace.json"
        write_trace(items, str(path), force=True)
        trace = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
        names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"]
                 if e["ph"] == "M" and e["name"] == "thread_name"}
        exact = 0
        for pid, item in enumerate(items, 1):
            slices = {e["args"]["k"]: e for e in trace["traceEvents"] if e["ph"] == "X" and e["pid"] == pid
                      and names[(pid, e["tid"])] == "tokens" and e["cat"] == "token"}
            for token in item.tokens:
                _require(int(Decimal(slices[token["k"]]["dur"]) * 1000) == round(token["latency_ms"] * 1e6),
                         f"session {item.session['id'][:8]} k={token['k']}: slice != stored latency")
                exact += 1
        counters = sorted({e["name"] for e in trace["traceEvents"] if e["ph"] == "C"})
        gpu_sessions = [item for item in items if str(item.session.get("device", "")).startswith("cuda")]
        if gpu_sessions and self.facts.get("pynvml") is not None:
            _require("SM clock MHz" in counters, f"GPU sessions but no NVML counter in the trace: {counters}")
        return {"sessions": len(items), "tokens_exact_to_ns": exact, "events": len(trace["traceEvents"]),
                "counters": counters, "bytes": path.stat().st_size}

    def breakdown(self, device: str = "cpu") -> dict[str, Any]:
        from profiler.backends import BackendOptions, load_backend
        from profiler.backends.base import SamplingSettings
        from profiler.breakdown import class_rows, run_profiled_pass
        from profiler.breakdown.summary import step_figures

        backend = load_backend(BackendOptions(device=device))
        try:
            result = run_profiled_pass(backend, backend.encode(PROMPT), SamplingSettings(), max_new_tokens=24,
                                       ignore_eos=True)
        finally:
            backend.close()
        figures = step_figures(result)
        gap = abs(figures["classes_ms"] - figures["step_ms"]) / figures["step_ms"]
        _require(gap <= 0.10, f"classes add up to {figures['classes_ms']:.3f} ms of a {figures['step_ms']:.3f} ms step")
        out = {"step_ms": round(figures["step_ms"], 3), "classes_ms": round(figures["classes_ms"], 3),
               "cpu_share": {row.name: round(row.share, 3) for row in class_rows(result)}}
        if device != "cpu":
            device_rows = class_rows(result, device=True)
            _require(sum(row.median_ms for row in device_rows) > 0, "no kernel time recorded by the CUDA activities")
            out["kernel_share"] = {row.name: round(row.share, 3) for row in device_rows}
            out["kernel_ms_median"] = {row.name: round(row.median_ms, 4) for row in device_rows}
        return out

    # -- GPU paths
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
        _require(all(f is not None and s is not None for _h, f, s in rows), "steps without CUDA-event times")
        decode = rows[1:]
        ratios = [(f + s) / h for h, f, s in decode]
        over = [(f + s) - h for h, f, s in decode if f + s > h * 1.01 + 20_000]
        _require(not over, f"{len(over)} token(s) whose events outlast the host window around them")
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
        _require(len(samples) >= 20, f"{len(samples)} samples in 3 s (20 Hz expected)")
        columns = ("wall_time", "gpu_util", "gpu_mem_mb", "gpu_temp_c", "sm_clock_mhz", "power_w", "throttle_reasons")
        values = {name: [s[i] for s in samples] for i, name in enumerate(columns)}
        present = {name: all(v is not None for v in values[name]) for name in columns[1:]}
        _require(all(present.values()), f"NVML fields missing: {[n for n, ok in present.items() if not ok]}")
        changing = {name: len(set(values[name])) > 1 for name in ("gpu_util", "gpu_temp_c", "sm_clock_mhz", "power_w",
                                                                  "throttle_reasons")}
        _require(changing["power_w"] or changing["gpu_temp_c"] or changing["sm_clock_mhz"],
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
        _require(len(tokens) == 16, f"{len(tokens)} tokens decoded, not 16")
        # a sanity band, not a target: the estimator counts bitsandbytes' scales and its 16-bit lm_head
        _require(0.5 <= ratio <= 2.0, f"allocated {measured / 2**20:.0f} MiB vs estimated "
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
        _require(equal, f"greedy tokens differ from k={first_difference}")
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
        _require(abs(weights / estimated.weights_bytes - 1) < 0.05,
                 f"weights: {out['weights_allocated_gib']} GiB allocated vs {out['weights_estimated_gib']} estimated")
        if efficiency is None:
            out["achieved_fraction"] = None
            out["note"] = f"the GPU table has no row for {self.facts['gpu']!r}: no bandwidth fraction"
        else:
            out["achieved_fraction"] = round(efficiency.fraction, 4)
            out["floor_at_median_context_ms"] = round(efficiency.floor_ms, 4)
            _require(0 < efficiency.fraction <= 1.0,
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
        _require(out["32"]["aggregate_tokens_per_s"] > out["1"]["aggregate_tokens_per_s"],
                 "batch 32 gave no more tokens/s than batch 1")
        return {"batches": out}

    # -- helpers: the project's own collection paths, on this run's private store
    def _collect(self, options, *, tokens: int, after_load: Callable[[Any], Any] | None = None):
        from profiler.backends import load_backend
        from profiler.collect import Collector, RunSettings

        backend = load_backend(options)
        try:
            measured = after_load(backend) if after_load else None
            settings = RunSettings(max_new_tokens=tokens, ignore_eos=True, warmup=1, repeat=1)
            outcomes = Collector(backend, self.store, settings).run([PROMPT])
        finally:
            backend.close()
        session_id = next(o.session_id for o in outcomes if not o.warmup)
        stored = self.store.session_tokens(session_id)
        return (session_id, stored, measured) if after_load else (session_id, stored)

    def _collect_batch(self, options, *, batch: int, tokens: int) -> dict[str, Any]:
        from profiler.backends import load_backend
        from profiler.batch_collect import collect_batch
        from profiler.collect import RunSettings

        backend = load_backend(options)
        try:
            settings = RunSettings(max_new_tokens=tokens, ignore_eos=True, warmup=1, repeat=1)
            run = collect_batch(backend, self.store, settings, [f"{PROMPT} ({i})" for i in range(batch)], batch=batch)
        finally:
            backend.close()
        first = next(s for s in run.sessions if not s.warmup)
        token_ids = [t["token_id"] for t in self.store.session_tokens(first.session_id)]
        return {"summary": run.summary, "token_ids": token_ids}


def _require(condition: bool, why: str) -> None:
    if not condition:
        raise AssertionError(why)


def _free_gpu() -> None:
    gc.collect()
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-s", type=float, default=480.0, help="stop starting checks after this (default 480)")
    parser.add_argument("--big", default="mistral-7b-v0.1", help="the 7B architecture built with random weights")
    parser.add_argument("--small", default="qwen2.5-0.5b", help="the small architecture for bitsandbytes")
    args = parser.parse_args(argv)
    started = time.monotonic()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a lent machine reaches no network: never wait on the hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    facts = prerequisites()
    if facts.get("missing"):
        print(json.dumps({"status": FAIL, "reason": f"needed and missing: {', '.join(facts['missing'])}",
                          "prerequisites": facts}), flush=True)
        return 1
    with tempfile.TemporaryDirectory(prefix="tokenlat-gpu-check-") as scratch:
        os.environ["TOKENLAT_DATA_DIR"] = scratch  # never the user's real store
        checks = Checks(args.budget_s, Path(scratch), facts, args.big, args.small)
        checks.run("cpu_decode", checks.cpu_decode)
        checks.run("breakdown", checks.breakdown)
        checks.run("cuda_event_timing", checks.cuda_event_timing, needs_gpu=True)
        checks.run("nvml_sampling", checks.nvml_sampling, needs_gpu=True, needs=("pynvml",))
        checks.run("bitsandbytes_8bit", lambda: checks.bitsandbytes("8bit"), needs_gpu=True, needs=("bitsandbytes",))
        checks.run("bitsandbytes_4bit", lambda: checks.bitsandbytes("4bit"), needs_gpu=True, needs=("bitsandbytes",))
        checks.run("static_compile", checks.static_compile, needs_gpu=True)
        checks.run("random_weights_7b", checks.random_weights_7b, needs_gpu=True)
        checks.run("batch_sweep", checks.batch_sweep, needs_gpu=True)
        checks.run("breakdown_cuda", lambda: checks.breakdown("cuda"), needs_gpu=True)
        checks.run("trace_export", checks.trace_export)
        checks.store.close()
    counts = {status: sum(1 for r in checks.results.values() if r["status"] == status)
              for status in (PASS, FAIL, SKIPPED)}
    report = {"status": FAIL if counts[FAIL] else PASS, **counts, "elapsed_s": round(time.monotonic() - started, 1),
              "prerequisites": facts, "checks": checks.results}
    print(json.dumps(report, default=str, allow_nan=False), flush=True)
    return 1 if counts[FAIL] else 0


if __name__ == "__main__":
    sys.exit(main())
