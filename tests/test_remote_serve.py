"""Remote profiling against a real server: `transformers serve` on the embedded model saved to a folder.

Bounded: one server for the module (a few seconds to start), each test a handful of requests of
at most 12 tokens. Its quirks are the point: a role-only first chunk, several tokens in one chunk
(the byte-level tokenizer holds back bytes of an incomplete character), usage only on the last
chunk, stream_options ignored, and a 422 for fields OpenAI doesn't define.
"""

from __future__ import annotations

import json

import pytest

from conftest import error_lines, read_only_query, run_cli
from profiler.store import store_path

pytestmark = pytest.mark.slow
PROMPT = "Hello there"


def collect(served, data_dir, *extra: str):
    return run_cli("collect", PROMPT, "--server", served.url, "--max-new-tokens", "12", "--json", *extra,
                   data_dir=data_dir, timeout=180)


def chunks_of(db, session_id):
    return read_only_query(db, "SELECT n, arrival_ms, tokens, content, text FROM chunks WHERE session_id=? ORDER BY n",
                           (session_id,))


def test_single_stream_counts_every_token_and_times_from_the_first_content_chunk(served, model_folder, tmp_path):
    result = collect(served, tmp_path, "--tokenizer", str(model_folder), "--warmup", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    measured = [s for s in report["sessions"] if not s["warmup"]]
    assert len(measured) == 1 and measured[0]["status"] == "finished" and measured[0]["timing"] == "arrival"
    session_id = measured[0]["id"]
    db = store_path(tmp_path)
    (timing,) = read_only_query(db, "SELECT timing FROM sessions WHERE id=?", (session_id,))[0]
    assert timing == "arrival"
    chunks = chunks_of(db, session_id)
    # quirk: the first chunk carries only the role; it is recorded, not counted, and TTFT is not taken there
    assert chunks[0][3] == 0 and chunks[0][4] == ""
    first_content = next(c for c in chunks if c[3])
    tokens = read_only_query(db, "SELECT k, latency_ms, phase, token_text FROM tokens WHERE session_id=? ORDER BY k",
                             (session_id,))
    assert tokens[0][1] == pytest.approx(first_content[1])  # TTFT = request sent -> first content chunk
    assert tokens[0][1] > chunks[0][1]
    # the server's own count (usage on its last chunk) is what the chunks add up to
    source, server_tokens, counted, content_chunks = read_only_query(
        db, "SELECT token_source, server_tokens, counted_tokens, chunks FROM remote_sessions WHERE session_id=?",
        (session_id,))[0]
    assert server_tokens == counted == len(tokens) == 12
    # stream_options was sent and ignored (no per-chunk usage): counts come from the local tokenizer
    assert source.startswith("tokenizer")
    # quirk: fewer content chunks than tokens, so some chunk holds several tokens...
    assert content_chunks < 12 and max(c[2] or 0 for c in chunks) == 0  # (no count in the events themselves)
    # ...and its gap is split over them, not charged to one token
    decode = [t for t in tokens if t[2] == "decode"]
    last_content = [c for c in chunks if c[3]][-1]
    assert sum(t[1] for t in decode) == pytest.approx(last_content[1] - first_content[1])
    assert len(tokens) - len(decode) >= 1  # k = 1 and any tokens that shared its chunk are prefill
    assert "".join(t[3] for t in tokens) == "".join(c[4] for c in chunks if c[3])


def test_four_concurrent_streams_are_sessions_of_one_run(served, model_folder, tmp_path):
    result = collect(served, tmp_path, "--tokenizer", str(model_folder), "--warmup", "0", "--concurrency", "4",
                     "--num-requests", "4")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    run = report["run"]
    assert run["streams"] == run["finished"] == 4 and run["concurrency"] == 4
    assert run["tokens"] == 48 and run["aggregate_tokens_per_s"] > 0
    for key in ("ttft_ms", "decode_ms_pooled"):
        assert run[key]["p50"] <= run[key]["p95"] <= run[key]["p99"]
    db = store_path(tmp_path)
    run_ids = {row[0] for row in read_only_query(db, "SELECT run_id FROM sessions")}
    assert run_ids == {run["run_id"]}
    # the four streams overlapped: each one's request went out before any other had ended
    spans = read_only_query(db, "SELECT started, ended FROM sessions ORDER BY started")
    assert max(s for s, _ in spans) < min(e for _, e in spans)
    assert "client arrival" in result.stderr


def test_a_field_the_server_rejects_is_named_in_one_line(served, tmp_path):
    result = collect(served, tmp_path, "--warmup", "0", "--ignore-eos")
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert lines[-1].startswith("tokenlat-tui: error: server rejected parameter 'ignore_eos' (422")
    assert "Traceback" not in result.stderr
    (status, error), = read_only_query(store_path(tmp_path), "SELECT status, error FROM sessions")
    assert status == "failed" and "ignore_eos" in error


def test_completions_endpoint_without_a_tokenizer_says_how_it_counted(served, tmp_path):
    result = collect(served, tmp_path, "--warmup", "0", "--endpoint", "completions")
    assert result.returncode == 0, result.stderr
    db = store_path(tmp_path)
    (source, server_tokens, counted, chunks), = read_only_query(
        db, "SELECT token_source, server_tokens, counted_tokens, chunks FROM remote_sessions")
    assert server_tokens == 12
    # no per-chunk counts and no tokenizer: never fewer tokens than the server's total (issue 17): one per
    # chunk when they match, else the total split over the chunks by text
    assert counted == 12 and source in {"one_per_chunk", "server_total_split_by_text"}
