"""Never fewer tokens than the server says (issue 17), against a real `transformers serve` on the embedded
model's byte-level folder: its chunks hold several tokens and only the last one carries the total.

Without a tokenizer the session stores exactly the server's completion_tokens, split over the chunks by
text (source `server_total_split_by_text`); with the folder as --server-model its tokenizer counts by
default (recorded), and --no-tokenizer opts out. The server and folder are conftest's fixtures.
"""

from __future__ import annotations

import json

import pytest

from conftest import read_only_query, run_cli
from profiler.store import store_path
from test_remote_serve import PROMPT

pytestmark = pytest.mark.slow
TOKENS = 24


def collect(served, data_dir, *extra: str):
    return run_cli("collect", PROMPT, "--server", served.url, "--max-new-tokens", str(TOKENS), "--warmup", "0",
                   "--json", *extra, data_dir=data_dir, timeout=180)


def remote_row(data_dir) -> tuple:
    db = store_path(data_dir)
    (session_id, tokens, environment), = read_only_query(db, "SELECT id, tokens, environment FROM sessions")
    rows = read_only_query(db, "SELECT COUNT(*) FROM tokens WHERE session_id=?", (session_id,))[0][0]
    source, server_tokens, chunks = read_only_query(
        db, "SELECT token_source, server_tokens, chunks FROM remote_sessions WHERE session_id=?", (session_id,))[0]
    return tokens, rows, source, server_tokens, chunks, json.loads(environment)


def test_without_a_tokenizer_every_session_stores_the_servers_total(served, tmp_path):
    result = collect(served, tmp_path)
    assert result.returncode == 0, result.stderr
    tokens, rows, source, server_tokens, chunks, environment = remote_row(tmp_path)
    assert server_tokens == TOKENS and tokens == rows == server_tokens
    assert environment["tokenizer_from"] is None
    # several tokens per chunk (the byte-level tokenizer holds back bytes): the total is split by text
    assert (source == "server_total_split_by_text" and chunks < TOKENS) or (source == "one_per_chunk" and chunks == TOKENS)
    assert json.loads(result.stdout)["run"]["tokens"] == TOKENS


def test_the_server_models_folder_tokenizer_is_used_by_default_and_no_tokenizer_opts_out(served, model_folder,
                                                                                           tmp_path):
    found = collect(served, tmp_path / "found", "--server-model", str(model_folder))
    assert found.returncode == 0, found.stderr
    tokens, rows, source, server_tokens, _chunks, environment = remote_row(tmp_path / "found")
    assert source.startswith("tokenizer") and str(model_folder) in environment["tokenizer_from"]
    assert tokens == rows == server_tokens == TOKENS

    opted_out = collect(served, tmp_path / "out", "--server-model", str(model_folder), "--no-tokenizer")
    assert opted_out.returncode == 0, opted_out.stderr
    tokens, rows, source, server_tokens, _chunks, environment = remote_row(tmp_path / "out")
    assert not source.startswith("tokenizer") and environment["tokenizer_from"] is None
    assert tokens == rows == server_tokens == TOKENS
