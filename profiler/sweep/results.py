"""Each cell's figures, computed from the sessions in the store — so they always match what `show` says.

Per cell (pooled over its done repeats; warm-ups left out):
- per-token latency p50/p95/p99 over every decode token of every sequence (in a batch, a token's
  latency is its step's: every sequence waits for the whole batch);
- TTFT p50 over the cell's sequences;
- aggregate tokens/s = batch x 1000 / mean decode ms (local; FIELD-NOTES "Metric definitions"), or
  the remote run's own aggregate (streams finishing in parallel, measured on the client's clock);
- peak memory (the largest any of its sessions recorded), compilation time;
- the roofline floor of a decode step at the cell's middle context, which limit sets it (memory or
  compute), and the achieved fraction = floor / measured p50.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from profiler.records import DECODE, PREFILL, percentile
from profiler.store.sweeps import DONE, CellRow, SweepStore
from profiler.sweep.grid import LOCAL, Cell, SweepSpec


@dataclass
class CellResult:
    key: str
    line: str
    """The plot line it belongs to (length x precision, or the configuration)."""
    batch: int
    max_new_tokens: int
    precision: str
    config: str
    status: str
    """done | skipped | failed | interrupted | pending | running, or 'partial' when repeats differ."""
    reason: str | None
    repeats_done: int = 0
    sessions: int = 0
    decode_tokens: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    ttft_p50_ms: float | None = None
    tokens_per_s: float | None = None
    """Aggregate over the batch (or the concurrent streams)."""
    peak_memory_mb: float | None = None
    compile_ms: float | None = None
    floor_ms: float | None = None
    bound: str | None = None
    achieved_fraction: float | None = None
    session_ids: list[str] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("session_ids")
        return row


TABLE_COLUMNS = ("key", "line", "batch", "max_new_tokens", "precision", "config", "status", "reason", "repeats_done",
                 "sessions", "decode_tokens", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "ttft_p50_ms", "tokens_per_s",
                 "peak_memory_mb", "compile_ms", "floor_ms", "bound", "achieved_fraction")


def sweep_results(sweeps: SweepStore, sweep_id: str) -> tuple[SweepSpec, list[CellResult]]:
    """The spec and one result per cell (grid order: line, then batch), from the store."""
    spec = SweepSpec.from_json(sweeps.get(sweep_id)["spec"])
    rows = sweeps.cells(sweep_id)
    sessions = sweeps.cell_sessions(sweep_id)
    tokens = sweeps.session_tokens([s["id"] for s in sessions])
    summaries = sweeps.run_summaries(sorted({s["run_id"] for s in sessions if s["run_id"]})) \
        if spec.mode != LOCAL else {}
    results = []
    for cell in spec.cells():
        cell_rows = [r for r in rows if r.cell == cell.key]
        cell_sessions = [s for s in sessions if s["cell"] == cell.key]
        results.append(_cell_result(spec, cell, cell_rows, cell_sessions, tokens, summaries))
    # the order the user listed precisions or configurations in (the baseline first, as given)
    axis = spec.configs or spec.precisions
    results.sort(key=lambda r: (axis.index(r.config or r.precision) if (r.config or r.precision) in axis else 0,
                                r.max_new_tokens, r.batch))
    return spec, results


def _cell_result(spec: SweepSpec, cell: Cell, rows: list[CellRow], sessions: list[dict], tokens: dict,
                 summaries: dict) -> CellResult:
    statuses = {r.status for r in rows}
    status = statuses.pop() if len(statuses) == 1 else "partial"
    reason = next((r.reason for r in rows if r.reason), None)
    result = CellResult(cell.key, cell.line, cell.batch, cell.max_new_tokens, cell.precision, cell.config, status,
                        reason, repeats_done=sum(r.status == DONE for r in rows), sessions=len(sessions),
                        session_ids=[s["id"] for s in sessions])
    decode = sorted(t["latency_ms"] for s in sessions for t in tokens[s["id"]] if t["phase"] == DECODE)
    firsts = sorted(t["latency_ms"] for s in sessions for t in tokens[s["id"]] if t["phase"] == PREFILL)
    if firsts:
        result.ttft_p50_ms = percentile(firsts, 50)
    if decode:
        result.decode_tokens = len(decode)
        result.p50_ms, result.p95_ms, result.p99_ms = (percentile(decode, q) for q in (50, 95, 99))
        result.mean_ms = statistics.fmean(decode)
        if spec.mode == LOCAL:
            result.tokens_per_s = cell.batch * 1000.0 / result.mean_ms
    if spec.mode != LOCAL:
        rates = [summaries[r]["aggregate_tokens_per_s"] for r in {s["run_id"] for s in sessions}
                 if summaries.get(r, {}).get("aggregate_tokens_per_s")]
        result.tokens_per_s = statistics.fmean(rates) if rates else None
    peaks = [s["peak_memory_mb"] for s in sessions if s["peak_memory_mb"] is not None]
    result.peak_memory_mb = max(peaks) if peaks else None
    compiles = [s["compile_ms"] for s in sessions if s["compile_ms"] is not None]
    result.compile_ms = max(compiles) if compiles else None
    if sessions and result.p50_ms and spec.mode == LOCAL:
        _add_roofline(result, spec, sessions)
    return result


def _add_roofline(result: CellResult, spec: SweepSpec, sessions: list[dict]) -> None:
    from model.efficiency import _session_shape
    from model.roofline import DTYPE_BYTES, QUANTS, decode_step_floor

    first = sessions[0]
    hardware = cell_hardware(spec, first.get("gpu_name") or "")
    shape = _session_shape(first)
    if hardware is None or shape is None or first.get("dtype") not in DTYPE_BYTES:
        return
    quant = first.get("quant") if first.get("quant") in QUANTS else "none"
    # left padding makes every sequence as long as the longest prompt; decode steps k = 2..N see
    # contexts input + 1 .. input + N - 1, whose middle is input + N / 2
    context = max(s["input_tokens"] for s in sessions) + result.max_new_tokens // 2
    floor = decode_step_floor(shape, hardware, first["dtype"], quant, result.batch, context)
    result.floor_ms, result.bound = floor.ms, floor.bound
    result.achieved_fraction = floor.ms / result.p50_ms


def cell_hardware(spec: SweepSpec, gpu_name: str):
    """The hardware a cell's floor is taken on: the GPU's spec-sheet row, else the sweep's probed CPU."""
    from model.hardware import Hardware, find_gpu, resolve_hardware

    gpu = find_gpu(gpu_name)
    if gpu is not None:
        return resolve_hardware(gpu.name)
    probed = spec.hardware
    if not probed.get("bandwidth_gb_s") or not probed.get("tflops"):
        return None
    return Hardware(name=probed.get("name", "this CPU"), count=1, bandwidth_gb_s=probed["bandwidth_gb_s"],
                    tflops_16bit=probed["tflops"], tflops_fp32=probed["tflops"], memory_bytes=0,
                    runtime_overhead_bytes=0, bf16=False, is_gpu=False)


def lines_of(results: list[CellResult]) -> dict[str, list[CellResult]]:
    """Results grouped by plot line, each line's cells by batch; lines without a measured cell left out."""
    lines: dict[str, list[CellResult]] = {}
    for result in results:
        if result.tokens_per_s:
            lines.setdefault(result.line, []).append(result)
    return {line: sorted(cells, key=lambda r: r.batch) for line, cells in lines.items()}


def scaling_analysis(results: list[CellResult]) -> dict[str, Any]:
    """Per line: the knee, each doubling's cost, memory/compute bound — as figures and as sentences."""
    from model.scaling import describe, scaling

    analysis: dict[str, Any] = {"lines": {}, "words": []}
    for line, cells in lines_of(results).items():
        result = scaling({c.batch: c.tokens_per_s for c in cells}, {c.batch: c.p50_ms for c in cells})
        bounds = {c.batch: c.bound for c in cells if c.bound}
        analysis["lines"][line] = {**result.to_json(), "bounds": bounds}
        analysis["words"] += describe(line, result, bounds)
    return analysis


__all__ = ["CellResult", "TABLE_COLUMNS", "cell_hardware", "lines_of", "scaling_analysis", "sweep_results"]
