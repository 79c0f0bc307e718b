"""Where each token lies on the trace's clock: integer ns, durations exactly the stored latencies.

A local token ends at its stored wall time (read right after the step, before anything else the
token costs). A remote stream's tokens end at the arrival of the chunk that carried them, counted
from the request being sent. Either way a token's slice has exactly its stored latency as duration,
and no token starts before the previous one ended: where clock noise (the wall clock is a double of
Unix seconds, ~0.2 µs apart) would make two touch-and-overlap, the later one is moved right and the
shift is kept with it (`shifted_ns`), so nesting on the track stays valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from profiler.trace.time import ns_from_ms, ns_from_unix


@dataclass
class TokenSpan:
    token: dict[str, Any]
    start_ns: int
    """Unix ns."""
    dur_ns: int
    shifted_ns: int = 0
    chunk_n: int | None = None
    """A remote token: the chunk that carried it (None where it couldn't be matched)."""

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.dur_ns


def token_duration_ns(session_id: str, token: dict[str, Any]) -> int:
    return ns_from_ms(token.get("latency_ms"), f"session {session_id[:8]} token k={token.get('k')}: latency")


def local_spans(session_id: str, tokens: Sequence[dict[str, Any]], start_ns: int) -> list[TokenSpan]:
    """Tokens timed around each step; `start_ns` places tokens without a wall time (imported seed rows)."""
    spans: list[TokenSpan] = []
    cursor: int | None = None
    for token in tokens:
        dur = token_duration_ns(session_id, token)
        wall = token.get("wall_time")
        start = ns_from_unix(wall) - dur if wall else (cursor if cursor is not None else start_ns)
        spans.append(_placed(token, start, dur, cursor))
        cursor = spans[-1].end_ns
    return spans


def _placed(token: dict[str, Any], start: int, dur: int, cursor: int | None, chunk_n: int | None = None) -> TokenSpan:
    shift = cursor - start if cursor is not None and start < cursor else 0
    return TokenSpan(token, start + shift, dur, shift, chunk_n)


def remote_sent_ns(tokens: Sequence[dict[str, Any]], fallback_ns: int) -> int:
    """When the request was sent: the first token's wall time less its TTFT (both stored with it)."""
    if tokens and tokens[0].get("wall_time") and tokens[0].get("latency_ms") is not None:
        return ns_from_unix(tokens[0]["wall_time"]) - round(tokens[0]["latency_ms"] * 1e6)
    return fallback_ns


def remote_spans(session_id: str, tokens: Sequence[dict[str, Any]], chunks: Sequence[dict[str, Any]],
                 sent_ns: int) -> tuple[list[TokenSpan], dict[int, int]]:
    """Derived tokens laid on their chunks' arrivals, and the tokens each chunk held (chunk n -> count).

    Tokens of one chunk share its wall time (profiler/remote/accounting.py), so they come in groups;
    a group's latencies add up to its chunk's arrival minus the previous counted chunk's, which finds
    the chunk even where the server's count is only known for the whole stream.
    """
    arrivals = [(c["n"], round(c["arrival_ms"] * 1e6)) for c in chunks if c.get("content")]
    counts: dict[int, int] = {}
    spans: list[TokenSpan] = []
    cursor: int | None = None
    previous = 0  # ns since sent of the previous counted chunk
    position = 0
    for group in _groups(tokens):
        durations = [token_duration_ns(session_id, t) for t in group]
        total = sum(durations)
        target = previous + total
        match = next((i for i in range(position, len(arrivals))
                      if abs(arrivals[i][1] - target) <= len(group) + 1), None)
        if match is not None:
            n, arrival = arrivals[match]
            counts[n] = len(group)
            start = sent_ns + arrival - total
            previous, position = arrival, match + 1
        else:
            n = None
            start = cursor if cursor is not None else sent_ns + previous
            previous += total
        for token, dur in zip(group, durations):
            spans.append(_placed(token, start, dur, cursor, n))
            cursor = spans[-1].end_ns
            start = cursor
    return spans, counts


def _groups(tokens: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: list[list[dict[str, Any]]] = []
    for token in tokens:
        if groups and token.get("wall_time") == groups[-1][0].get("wall_time"):
            groups[-1].append(token)
        else:
            groups.append([token])
    return groups
