"""Baseline vs optimised: each configuration against the baseline at the same batch and length.

- speed-up = its tokens/s ÷ the baseline's, with a bootstrap confidence interval (model/compare.py).
  Sequences of one batch share every step's latency, so each batch counts once (its first sequence):
  batches are the independent measurements; with several per side the bootstrap resamples them.
- output quality against the baseline's greedy outputs on the same prompts (model/quality.py):
  exact-match rate, mean position of first divergence, ROUGE-L F1;
- optional cost per 1M output tokens at a price per hour of the machine.
A configuration that isn't faster is said to be so: the verdict comes from the interval, not the point.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from profiler.store.sweeps import SweepStore
from profiler.sweep.configs import BASELINE
from profiler.sweep.grid import SweepSpec
from profiler.sweep.results import CellResult

FASTER, SLOWER, UNCLEAR = "faster", "slower", "not clearly faster"


@dataclass
class ConfigComparison:
    config: str
    batch: int
    max_new_tokens: int
    tokens_per_s: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    ttft_p50_ms: float | None
    peak_memory_mb: float | None
    compile_ms: float | None
    """Compilation and static-cache set-up, timed apart from every token (None without --compile)."""
    speedup: float | None
    speedup_ci_low: float | None
    speedup_ci_high: float | None
    verdict: str
    method: str | None
    exact_match_rate: float | None
    mean_first_divergence: float | None
    rouge_l_f1: float | None
    cost_per_million_usd: float | None
    status: str
    reason: str | None

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


COMPARISON_COLUMNS = tuple(ConfigComparison.__dataclass_fields__)


def baseline_name(spec: SweepSpec) -> str:
    return BASELINE if BASELINE in spec.configs else spec.configs[0]


def compare_configs(sweeps: SweepStore, sweep_id: str, spec: SweepSpec, results: list[CellResult], *,
                    price_per_hour: float | None = None, seed: int = 0) -> list[ConfigComparison]:
    """One row per configuration cell (the baseline's own included, speed-up 1), grid order."""
    from model.compare import compare, make_side

    base_name = baseline_name(spec)
    by_key = {(r.config, r.batch, r.max_new_tokens): r for r in results}
    sessions = {s["id"]: s for s in sweeps.cell_sessions(sweep_id)}
    tokens = sweeps.session_tokens(list(sessions))
    rows = []
    for result in results:
        base = by_key.get((base_name, result.batch, result.max_new_tokens))
        row = ConfigComparison(
            config=result.config, batch=result.batch, max_new_tokens=result.max_new_tokens,
            tokens_per_s=result.tokens_per_s, p50_ms=result.p50_ms, p95_ms=result.p95_ms, p99_ms=result.p99_ms,
            ttft_p50_ms=result.ttft_p50_ms, peak_memory_mb=result.peak_memory_mb, compile_ms=result.compile_ms,
            speedup=None, speedup_ci_low=None, speedup_ci_high=None, verdict=UNCLEAR, method=None,
            exact_match_rate=None, mean_first_divergence=None, rouge_l_f1=None, cost_per_million_usd=None,
            status=result.status, reason=result.reason)
        if price_per_hour is not None and result.tokens_per_s:
            row.cost_per_million_usd = price_per_hour / 3600 / result.tokens_per_s * 1e6
        if base is None or not base.tokens_per_s or not result.tokens_per_s:
            row.verdict = "no baseline to compare" if result.tokens_per_s else "not measured"
            rows.append(row)
            continue
        if result is base:
            row.speedup, row.verdict = 1.0, "baseline"
            row.exact_match_rate, row.mean_first_divergence, row.rouge_l_f1 = 1.0, None, 1.0
            rows.append(row)
            continue
        sides = [make_side(label, [(i, tokens[i]) for i in r.session_ids if sessions[i]["batch_index"] == 0])
                 for label, r in ((base_name, base), (result.config, result))]
        comparison = compare(*sides, seed=seed)
        diff = comparison.differences["tokens_per_s"]
        row.method = comparison.method
        row.speedup = result.tokens_per_s / base.tokens_per_s
        if diff.ci_low is not None and diff.ci_high is not None:
            row.speedup_ci_low, row.speedup_ci_high = 1 + diff.ci_low, 1 + diff.ci_high
            row.verdict = FASTER if diff.ci_low > 0 else SLOWER if diff.ci_high < 0 else UNCLEAR
        else:
            row.verdict = (FASTER if row.speedup > 1 else SLOWER) + " (no interval)"
        quality = _quality(spec, base, result, sessions, tokens)
        if quality is not None:
            row.exact_match_rate = quality.exact_match_rate
            row.mean_first_divergence = quality.mean_first_divergence
            row.rouge_l_f1 = quality.rouge_l_f1
        rows.append(row)
    return rows


def _quality(spec: SweepSpec, base: CellResult, other: CellResult, sessions: dict, tokens: dict):
    """Output quality on the prompts both cells ran, each prompt's first measured output on each side."""
    from model.quality import output_quality

    def outputs(result: CellResult) -> dict[str, list[dict]]:
        first: dict[str, list[dict]] = {}
        for session_id in result.session_ids:
            first.setdefault(sessions[session_id]["prompt"], tokens[session_id])
        return first

    base_out, other_out = outputs(base), outputs(other)
    prompts = [p for p in dict.fromkeys(spec.prompts) if p in base_out and p in other_out]
    if not prompts:
        return None
    ids = [[[t["token_id"] for t in side[p]] for p in prompts] for side in (base_out, other_out)]
    texts = [["".join(t["token_text"] for t in side[p]) for p in prompts] for side in (base_out, other_out)]
    return output_quality(ids[0], ids[1], texts[0], texts[1])


__all__ = ["COMPARISON_COLUMNS", "ConfigComparison", "FASTER", "SLOWER", "UNCLEAR", "baseline_name",
           "compare_configs"]
