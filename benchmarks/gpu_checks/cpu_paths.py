"""The CPU paths of gpu_check (run everywhere): a stored decode, the profiled pass, the trace export."""

from __future__ import annotations

import json
import statistics
from typing import Any

from benchmarks.gpu_checks.common import PROMPT, StoreRuns, require


class CpuPaths(StoreRuns):
    def cpu_decode(self) -> dict[str, Any]:
        from profiler.backends import BackendOptions

        session_id, tokens = self._collect(BackendOptions(device="cpu"), tokens=16)
        self.trace_sessions.append(session_id)
        decode = [t["latency_ms"] for t in tokens if t["phase"] == "decode"]
        require(len(tokens) == 16, f"{len(tokens)} tokens stored, not 16")
        return {"session": session_id, "tokens": len(tokens), "decode_p50_ms": round(statistics.median(decode), 3),
                "samples": len(self.store.session_metrics(session_id))}

    def trace_export(self) -> dict[str, Any]:
        from decimal import Decimal

        from profiler.trace import read_trace_sessions, write_trace

        require(bool(self.trace_sessions), "no session to export (cpu_decode failed)")
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
                require(int(Decimal(slices[token["k"]]["dur"]) * 1000) == round(token["latency_ms"] * 1e6),
                        f"session {item.session['id'][:8]} k={token['k']}: slice != stored latency")
                exact += 1
        counters = sorted({e["name"] for e in trace["traceEvents"] if e["ph"] == "C"})
        gpu_sessions = [item for item in items if str(item.session.get("device", "")).startswith("cuda")]
        if gpu_sessions and self.facts.get("pynvml") is not None:
            require("SM clock MHz" in counters, f"GPU sessions but no NVML counter in the trace: {counters}")
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
        require(gap <= 0.10, f"classes add up to {figures['classes_ms']:.3f} ms of a {figures['step_ms']:.3f} ms step")
        out = {"step_ms": round(figures["step_ms"], 3), "classes_ms": round(figures["classes_ms"], 3),
               "cpu_share": {row.name: round(row.share, 3) for row in class_rows(result)}}
        if device != "cpu":
            device_rows = class_rows(result, device=True)
            require(sum(row.median_ms for row in device_rows) > 0, "no kernel time recorded by the CUDA activities")
            out["kernel_share"] = {row.name: round(row.share, 3) for row in device_rows}
            out["kernel_ms_median"] = {row.name: round(row.median_ms, 4) for row in device_rows}
        return out
