"""A concurrent run's figures: aggregate tokens/s, pooled and per-stream percentiles (p50/p95/p99)."""

from __future__ import annotations

from typing import Any, Sequence

from profiler.records import DECODE, PREFILL, percentile


def _tails(values: Sequence[float]) -> dict[str, float] | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return {f"p{q}": percentile(ordered, q) for q in (50, 95, 99)}


def summarize_run(sessions: list[dict[str, Any]], tokens_by_session: dict[str, list[dict[str, Any]]],
                  span_s: float | None, sources: list[str]) -> dict[str, Any]:
    """`sessions`: the measured sessions (store rows); `span_s`: first request sent to last stream ended."""
    ttft, decode, per_stream = [], [], []
    total = 0
    for session in sessions:
        rows = tokens_by_session.get(session["id"], [])
        total += len(rows)
        first = next((r["latency_ms"] for r in rows if r["phase"] == PREFILL), None)
        if first is not None:
            ttft.append(first)
        stream_decode = [r["latency_ms"] for r in rows if r["phase"] == DECODE]
        decode.extend(stream_decode)
        per_stream.append({"session": session["id"], "status": session["status"], "tokens": len(rows),
                           "ttft_ms": first, "decode_ms": _tails(stream_decode)})
    stream_p50 = [s["decode_ms"]["p50"] for s in per_stream if s["decode_ms"]]
    return {
        "streams": len(sessions),
        "finished": sum(1 for s in sessions if s["status"] == "finished"),
        "tokens": total,
        "span_s": span_s,
        "aggregate_tokens_per_s": total / span_s if span_s else None,
        "ttft_ms": _tails(ttft),
        "decode_ms_pooled": _tails(decode),
        "decode_p50_ms_across_streams": _tails(stream_p50),
        "token_sources": sorted(set(sources)),
        "per_stream": per_stream,
    }
