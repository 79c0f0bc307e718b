"""How a session is presented: the `sessions --json` item and the summary table's columns."""

from __future__ import annotations

from typing import Any

# (column title, key, number format or None)
SUMMARY_FIELDS = [
    ("id", "short_id", None),
    ("status", "status", None),
    ("started", "started_short", None),
    ("model", "model_display", None),
    ("quant", "quant", None),
    ("in", "input_tokens", "d"),
    ("tokens", "tokens", "d"),
    ("warm-up", "warmup", None),
    ("TTFT ms", "ttft_ms", ".2f"),
    ("p50 ms", "decode_p50_ms", ".2f"),
    ("p95 ms", "decode_p95_ms", ".2f"),
    ("p99 ms", "decode_p99_ms", ".2f"),
    ("tok/s", "tokens_per_s", ".1f"),
]


ARRIVAL_LABEL = "client arrival timing"
"""What every view says beside a remote session's latencies: gaps between streamed chunks as the
client saw them (network and server queueing included), not device time."""


def timing_label(session: dict[str, Any]) -> str:
    """'client arrival timing' for a remote (arrival-timed) session, '' for device-timed ones.

    The one definition every latency view uses (table, live panel, detail, compare, CLI)."""
    return ARRIVAL_LABEL if session.get("timing") == "arrival" else ""


def efficiency_or_none(session: dict[str, Any]):
    """The session's measured-vs-floor `Efficiency`, or None when GPU or model is unknown.

    Deferred import: `sessions` and `show` only need model/ when they print this.
    """
    from model.efficiency import session_efficiency

    try:
        return session_efficiency(session)
    except Exception:  # noqa: BLE001 - an estimate we can't make is 'unknown', never a failed listing
        return None


def bandwidth_fraction(session: dict[str, Any]) -> float | None:
    """Achieved memory-bandwidth fraction when GPU and model are known (issue 5), else None."""
    efficiency = efficiency_or_none(session)
    return efficiency.fraction if efficiency is not None else None


def session_summary_row(session: dict[str, Any]) -> dict[str, Any]:
    """The JSON item of `sessions --json` / `collect --json`."""
    warmup = bool(session.get("warmup"))
    recorded = session.get("tokens") or 0
    return {
        "id": session["id"],
        "status": session["status"],
        "started": session["started"],
        "ended": session.get("ended"),
        "model": session.get("model", ""),
        "model_label": session.get("model_label", ""),
        "quant": session.get("quant", ""),
        "dtype": session.get("dtype", ""),
        "device": session.get("device", ""),
        "backend": session.get("backend", ""),
        "gpu_name": session.get("gpu_name", ""),
        "input_tokens": session.get("input_tokens"),
        # `tokens` is what the table's tokens column shows: every token generated, warm-up or not;
        # warm-up tokens are left out of statistics, which `measured_tokens` says
        "tokens": recorded,
        "measured_tokens": 0 if warmup else recorded,
        "warmup": warmup,
        "repeat_index": session.get("repeat_index", 0),
        "ttft_ms": session.get("ttft_ms"),
        "decode_p50_ms": session.get("decode_p50_ms"),
        "decode_p95_ms": session.get("decode_p95_ms"),
        "decode_p99_ms": session.get("decode_p99_ms"),
        "decode_mean_ms": session.get("decode_mean_ms"),
        "tokens_per_s": session.get("tokens_per_s"),
        "bandwidth_fraction": bandwidth_fraction(session),
        "prompt": session.get("prompt", ""),
        "error": session.get("error"),
    }


def display_fields(session: dict[str, Any]) -> dict[str, Any]:
    """Extra keys the summary table shows (short id and time, model with its label)."""
    label = session.get("model_label")
    return {
        **session,
        "short_id": session["id"][:8],
        "started_short": (session.get("started") or "")[:19].replace("T", " "),
        "model_display": f"{session.get('model', '')}" + (f" ({label})" if label else ""),
    }
