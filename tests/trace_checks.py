"""Reading a Chrome trace back the way a viewer would, and checking it (tests of `export --trace`)."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path


def load_trace(path: Path) -> dict:
    """The trace with every number as an exact Decimal: ts/dur microseconds -> ns without float error."""
    return json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)


def ns(value) -> int:
    """Trace microseconds as integer ns; the literal must have at most three decimals (exact ns)."""
    scaled = Decimal(value) * 1000
    assert scaled == scaled.to_integral_value(), value
    return int(scaled)


def track_names(trace: dict) -> dict[tuple[int, int], str]:
    return {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"]
            if e["ph"] == "M" and e["name"] == "thread_name"}


def process_names(trace: dict) -> dict[int, str]:
    return {e["pid"]: e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "process_name"}


def slices(trace: dict, track: str | None = None) -> list[dict]:
    names = track_names(trace)
    return [e for e in trace["traceEvents"]
            if e["ph"] == "X" and (track is None or names[(e["pid"], e["tid"])] == track)]


def assert_nesting_valid(trace: dict) -> None:
    """On every track, two slices are either disjoint or one holds the other: no partial overlap."""
    by_track = defaultdict(list)
    for event in slices(trace):
        by_track[(event["pid"], event["tid"])].append((ns(event["ts"]), ns(event["ts"]) + ns(event["dur"]), event))
    for track, items in by_track.items():
        items.sort(key=lambda item: (item[0], -item[1]))
        stack: list[int] = []
        for start, end, event in items:
            assert end >= start, event
            while stack and stack[-1] <= start:
                stack.pop()
            assert not stack or end <= stack[-1], (track, event)
            stack.append(end)


def token_slices(trace: dict, pid: int) -> dict[int, dict]:
    return {e["args"]["k"]: e for e in slices(trace, "tokens") if e["pid"] == pid and e["cat"] == "token"}


def pid_of(trace: dict, session_id: str) -> int:
    (pid,) = [pid for pid, name in process_names(trace).items() if session_id[:8] in name]
    return pid


def assert_tokens_exact(trace: dict, session_id: str, tokens: list[dict]) -> None:
    """Every token's slice lasts exactly its stored latency, to the nanosecond, in order."""
    timed = token_slices(trace, pid_of(trace, session_id))
    assert sorted(timed) == [t["k"] for t in tokens]
    previous_end = None
    for token in tokens:
        event = timed[token["k"]]
        assert ns(event["dur"]) == round(token["latency_ms"] * 1e6)
        assert round(float(event["dur"]) * 1000) == round(token["latency_ms"] * 1e6)  # a float reader too
        assert event["args"]["latency_ms"] == Decimal(repr(token["latency_ms"]))
        if previous_end is not None:
            assert ns(event["ts"]) >= previous_end
        previous_end = ns(event["ts"]) + ns(event["dur"])
