"""`export --trace` of a 4-stream remote run against a real `transformers serve` (the embedded model
saved to a folder): one process per stream with its request, its chunk arrivals and the derived tokens."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from profiler.store import SessionStore
from profiler.store.chunks import remote_details
from trace_checks import assert_nesting_valid, assert_tokens_exact, load_trace, ns, pid_of, process_names, slices, \
    track_names

pytestmark = pytest.mark.slow


def test_four_streams_each_a_process_with_request_chunks_and_tokens(served, model_folder, tmp_path):
    server, folder = served, model_folder
    result = run_cli("collect", "Hello there", "--server", server.url, "--max-new-tokens", "12", "--json",
                     "--tokenizer", str(folder), "--warmup", "0", "--concurrency", "4", "--num-requests", "4",
                     data_dir=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run"]["run_id"]
    store = SessionStore(tmp_path)
    ids = [s["id"] for s in store.list_sessions() if s["run_id"] == run_id]
    assert len(ids) == 4
    out = tmp_path / "remote.json"
    exported = run_cli("export", *ids, "--trace", "-o", str(out), data_dir=tmp_path)
    assert exported.returncode == 0, exported.stderr
    trace = load_trace(out)
    assert_nesting_valid(trace)
    names = track_names(trace)
    assert len([name for name in process_names(trace).values() if name.startswith("stream ")]) == 4
    for session_id in ids:
        tokens = store.session_tokens(session_id)
        assert_tokens_exact(trace, session_id, tokens)
        pid = pid_of(trace, session_id)
        assert {names[(pid, tid)] for tid in (1, 5, 6)} == {"tokens", "request", "chunks"}
        details = remote_details(store, session_id)
        chunks = [e for e in trace["traceEvents"] if e["ph"] == "i" and e["pid"] == pid and e["cat"] == "chunk"]
        assert len(chunks) == len(details["chunk_rows"])
        # the chunks' token counts add up to the derived tokens (the server counted them for the whole stream)
        assert sum(e["args"]["tokens"] for e in chunks) == len(tokens) == details["counted_tokens"]
        (sent,) = [e for e in trace["traceEvents"] if e["pid"] == pid and e["name"] == "request sent"]
        (request,) = [e for e in slices(trace, "request") if e["pid"] == pid]
        # each chunk arrives at its stored arrival after the request was sent, to the nanosecond
        for event, row in zip(sorted(chunks, key=lambda e: e["args"]["n"]), details["chunk_rows"]):
            assert ns(event["ts"]) - ns(sent["ts"]) == round(row["arrival_ms"] * 1e6)
        # every token ends at its chunk's arrival (a few ns of rounding where a chunk's gap is split)
        by_n = {e["args"]["n"]: ns(e["ts"]) for e in chunks}
        for event in (e for e in slices(trace, "tokens") if e["pid"] == pid and e["cat"] == "token"):
            assert abs(ns(event["ts"]) + ns(event["dur"]) - by_n[event["args"]["chunk"]]) <= 12
        assert ns(request["ts"]) == ns(sent["ts"]) and ns(request["dur"]) >= max(by_n.values()) - ns(sent["ts"])
