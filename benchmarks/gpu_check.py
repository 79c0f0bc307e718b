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
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from benchmarks.gpu_checks.cpu_paths import CpuPaths  # noqa: E402
from benchmarks.gpu_checks.gpu_paths import GpuPaths  # noqa: E402

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
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


class Checks(CpuPaths, GpuPaths):
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
