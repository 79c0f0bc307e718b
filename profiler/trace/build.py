"""The trace's events from the store's rows: one process per session, named tracks inside it.

Tracks (threads) of a session's process:
- `tokens`: prefill and each decode token as slices (name says k and its context); forward and
  sampling nested inside where they were stored;
- `garbage collection`: the GC time recorded inside a token (its place inside the token isn't
  recorded: the slice ends with the token);
- `CPU wait`: the run-queue wait recorded inside a token (total only, placed at its start);
- `spikes`: slow tokens with their causes, as the caller found them (model/spikes.py);
- a remote stream's `request` (sent -> last chunk) and `chunks` (each arrival, with its tokens);
- counters: the NVML / CPU samples of the session.
A profiled pass (`collect --breakdown`) is a process of its own: its steps with the module-class
ranges nested inside (profiler/trace/operators.py). Everything is on one clock (profiler/trace/time.py),
said in the trace's metadata with each
session's environment and settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from profiler.printable import printable_line
from profiler.records import iso_from_unix
from profiler.trace.layout import TokenSpan, local_spans, remote_sent_ns, remote_spans
from profiler.trace.time import CLOCK, ns_from_ms, ns_from_unix, trace_us

TRACKS = {"tokens": 1, "garbage collection": 2, "CPU wait": 3, "spikes": 4, "request": 5, "chunks": 6}
"""Track name -> tid inside each session's process (also their order in the viewer)."""
COUNTERS = {"gpu_util": "GPU util %", "gpu_mem_mb": "GPU memory MB", "gpu_temp_c": "GPU temperature °C",
            "sm_clock_mhz": "SM clock MHz", "power_w": "GPU power W", "cpu_util": "CPU util %", "rss_mb": "RSS MB"}
FORMAT = "tokenlat-tui trace 1"


@dataclass(frozen=True)
class SpikeMark:
    """A slow token and why (computed by the caller, e.g. with model.spikes.find_spikes)."""

    k: int
    cause: str
    times_median: float | None = None


@dataclass
class TraceSession:
    """What the store holds about one session, as the trace needs it."""

    session: dict[str, Any]
    tokens: list[dict[str, Any]]
    metrics: list[dict[str, Any]] = field(default_factory=list)
    remote: dict[str, Any] | None = None
    """remote_details(): the server's facts and `chunk_rows`; None for a local session."""
    spikes: list[SpikeMark] = field(default_factory=list)


def _started_ns(session: dict[str, Any]) -> int:
    import datetime as dt

    try:
        return ns_from_unix(dt.datetime.fromisoformat(session["started"]).timestamp())
    except (TypeError, ValueError, KeyError):
        return 0


class _Events:
    """Collects events with absolute Unix-ns times; `finish` makes them relative to the origin."""

    def __init__(self) -> None:
        self.items: list[tuple[int, dict[str, Any], int | None]] = []  # (start ns, event, dur ns)

    def slice(self, pid: int, track: str, name: str, start: int, dur: int, args: dict[str, Any], cat: str) -> None:
        self.items.append((start, {"ph": "X", "pid": pid, "tid": TRACKS[track], "name": name, "cat": cat,
                                   "args": args}, dur))

    def instant(self, pid: int, track: str, name: str, at: int, args: dict[str, Any], cat: str) -> None:
        self.items.append((at, {"ph": "i", "s": "t", "pid": pid, "tid": TRACKS[track], "name": name, "cat": cat,
                                "args": args}, None))

    def counter(self, pid: int, name: str, at: int, value: float) -> None:
        self.items.append((at, {"ph": "C", "pid": pid, "name": name, "args": {"value": value}}, None))

    def finish(self) -> tuple[int, list[dict[str, Any]]]:
        origin = min((start for start, _e, _d in self.items), default=0)
        events = []
        for start, event, dur in sorted(self.items, key=lambda item: (item[0], -(item[2] or 0))):
            event["ts"] = trace_us(start - origin)
            if dur is not None:
                event["dur"] = trace_us(dur)
            events.append(event)
        return origin, events


def build_trace(sessions: Sequence[TraceSession], passes: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The trace as a JSON-ready object: {"traceEvents": [...], "otherData": {...}}.

    `passes`: profiled passes (profiler/breakdown, as stored) shown each as a process of its own."""
    events = _Events()
    names: list[dict[str, Any]] = []
    described: dict[str, Any] = {}
    for pid, item in enumerate(sessions, 1):
        session = item.session
        names += _name_events(pid, item)
        spans = _session_events(events, pid, item)
        described[session["id"]] = _description(item, spans)
    profiled: dict[str, Any] = {}
    if passes:
        from profiler.trace.operators import pass_events

        for pid, profiled_pass in enumerate(passes, len(sessions) + 1):
            names += pass_events(events, pid, profiled_pass)
            profiled[profiled_pass["id"]] = {key: profiled_pass.get(key) for key in
                                             ("label", "created", "sessions", "device", "activities", "layers")}
    origin, timed = events.finish()
    # no "displayTimeUnit": some Perfetto versions took "ns" there to mean ts *is* in ns, not µs
    return {"traceEvents": names + timed,
            "otherData": {"format": FORMAT, "clock": CLOCK, "origin_unix_ns": origin,
                          "origin": iso_from_unix(origin / 1e9) if origin else None, "sessions": described,
                          "profiled_passes": profiled}}


def _name_events(pid: int, item: TraceSession) -> list[dict[str, Any]]:
    session = item.session
    label = f"session {session['id'][:8]} · {printable_line(str(session.get('model') or ''))}"
    if item.remote is not None:
        label = f"stream {session['id'][:8]} · {printable_line(str(item.remote.get('url') or ''))}"
    if (session.get("batch_size") or 1) > 1:
        label += f" · sequence {session.get('batch_index', 0) + 1}/{session['batch_size']}"
    if session.get("warmup"):
        label += " · warm-up"
    events = [{"ph": "M", "pid": pid, "name": "process_name", "args": {"name": label}},
              {"ph": "M", "pid": pid, "name": "process_sort_index", "args": {"sort_index": pid}}]
    for track, tid in TRACKS.items():
        events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": track}})
        events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}})
    return events


def _session_events(events: _Events, pid: int, item: TraceSession) -> list[TokenSpan]:
    session, sid = item.session, item.session["id"]
    start_ns = _started_ns(session)
    if item.remote is not None:
        chunks = item.remote.get("chunk_rows") or []
        sent = remote_sent_ns(item.tokens, start_ns)
        spans, counts = remote_spans(sid, item.tokens, chunks, sent)
        _remote_events(events, pid, item, chunks, counts, sent, spans)
    else:
        spans = local_spans(sid, item.tokens, start_ns)
    spikes = {mark.k: mark for mark in item.spikes}
    for span in spans:
        _token_events(events, pid, span, spikes.get(span.token["k"]), arrival=item.remote is not None)
    for sample in item.metrics:
        if not sample.get("wall_time"):
            continue
        at = ns_from_unix(sample["wall_time"])
        for column, name in COUNTERS.items():
            value = sample.get(column)
            if value is not None:
                events.counter(pid, name, at, value)
    return spans


def _token_events(events: _Events, pid: int, span: TokenSpan, spike: SpikeMark | None, *, arrival: bool) -> None:
    token = span.token
    k, context = token["k"], token["context_size"]
    name = f"prefill k=1 (context {context})" if k == 1 else f"{token['phase']} k={k} (context {context})"
    args = {"k": k, "context_size": context, "phase": token["phase"], "latency_ms": token["latency_ms"],
            "latency_ns": span.dur_ns, "token_text": printable_line(token.get("token_text") or "")}
    if token.get("token_id") is not None:
        args["token_id"] = token["token_id"]
    if span.shifted_ns:
        args["shifted_ns"] = span.shifted_ns
    if span.chunk_n is not None:
        args["chunk"] = span.chunk_n
    events.slice(pid, "tokens", name, span.start_ns, span.dur_ns, args, "token")
    _split_events(events, pid, span)
    gc_count, gc_ms = token.get("gc_collections") or 0, token.get("gc_ms") or 0.0
    if gc_count or gc_ms:
        gc_ns = min(ns_from_ms(gc_ms, f"token k={k}: gc_ms"), span.dur_ns)
        gc_args = {"k": k, "collections": gc_count, "gc_ms": gc_ms, "placement": "its place inside the token isn't "
                   "recorded: shown ending with it" if not arrival else "counted while its chunk was read"}
        if gc_ns:
            events.slice(pid, "garbage collection", f"gc ×{gc_count} in k={k}", span.end_ns - gc_ns, gc_ns,
                         gc_args, "gc")
        else:
            events.instant(pid, "garbage collection", f"gc ×{gc_count} at k={k}", span.end_ns, gc_args, "gc")
    wait = token.get("cpu_wait_ms")
    if wait:
        wait_ns = min(ns_from_ms(wait, f"token k={k}: cpu_wait_ms"), span.dur_ns)
        events.slice(pid, "CPU wait", f"CPU wait in k={k}", span.start_ns, wait_ns,
                     {"k": k, "cpu_wait_ms": wait, "preemptions": token.get("preemptions"),
                      "placement": "the total inside the token; its place isn't recorded: shown from its start"},
                     "cpu_wait")
    if spike is not None:
        events.slice(pid, "spikes", f"spike k={k}: {printable_line(spike.cause)}", span.start_ns, span.dur_ns,
                     {"k": k, "cause": printable_line(spike.cause), "times_median": spike.times_median}, "spike")


def _split_events(events: _Events, pid: int, span: TokenSpan) -> None:
    """Forward then sampling, nested in the token (clamped inside it: CUDA events can read a little long)."""
    token = span.token
    cursor, end = span.start_ns, span.end_ns
    for part, column in (("forward", "forward_ms"), ("sampling", "sample_ms")):
        value = token.get(column)
        if value is None:
            continue
        dur = min(ns_from_ms(value, f"token k={token['k']}: {column}"), end - cursor)
        events.slice(pid, "tokens", part, cursor, dur, {column: value, "k": token["k"]}, part)
        cursor += dur


def _remote_events(events: _Events, pid: int, item: TraceSession, chunks: list[dict[str, Any]],
                   counts: dict[int, int], sent: int, spans: list[TokenSpan]) -> None:
    remote = item.remote or {}
    last = max([sent + round(c["arrival_ms"] * 1e6) for c in chunks] + [s.end_ns for s in spans] + [sent])
    facts = {key: remote.get(key) for key in ("api", "endpoint", "http_status", "token_source", "queue_ms",
                                              "server_tokens", "counted_tokens", "chunks", "run_id")}
    facts["url"] = printable_line(str(remote.get("url") or ""))
    events.instant(pid, "request", "request sent", sent, facts, "request")
    events.slice(pid, "request", "request", sent, last - sent, facts, "request")
    for chunk in chunks:
        stored = chunk.get("tokens")
        held = stored if stored is not None else counts.get(chunk["n"], 0)
        name = f"chunk {chunk['n']} (+{held} tokens)" if chunk.get("content") else f"chunk {chunk['n']} (no content)"
        events.instant(pid, "chunks", name, sent + round(chunk["arrival_ms"] * 1e6),
                       {"n": chunk["n"], "tokens": held, "count_from": "the chunk" if stored is not None else
                        "the stream's final count", "arrival_ms": chunk["arrival_ms"], "gap_ms": chunk.get("gap_ms"),
                        "content": bool(chunk.get("content")), "gc_collections": chunk.get("gc_collections") or 0,
                        "text": printable_line(chunk.get("text") or "")}, "chunk")


def _description(item: TraceSession, spans: list[TokenSpan]) -> dict[str, Any]:
    session = item.session
    keys = ("status", "started", "model", "model_label", "quant", "dtype", "device", "backend", "batch_size",
            "batch_index", "attn", "gpu_name", "warmup", "repeat_index", "timing", "run_id", "sweep_id", "cell",
            "config", "input_tokens", "tokens", "ttft_ms", "decode_p50_ms", "decode_p95_ms")
    out = {key: session.get(key) for key in keys}
    out["environment"] = session.get("environment") or {}
    out["settings"] = session.get("settings") or {}
    out["samples"] = len(item.metrics)
    out["shifted_tokens"] = sum(1 for s in spans if s.shifted_ns)
    return out
