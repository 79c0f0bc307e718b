"""A server's numbers are outside input (issue 23 §2–3, issue 17): validated before they are stored,
believed only within what the text can hold, and a believed total is never stored as fewer tokens.

Each test points a real `tokenlat-tui collect --server` subprocess at a scripted server on 127.0.0.1
(remote_servers.scripted_chat_app) that sends the bad value, then reads the real store.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, cli_env, error_lines, read_only_query, run_cli, wait_for_count
from profiler.store import store_path
from remote_servers import ServerThread, chat_chunk, scripted_chat_app, sse

pytestmark = pytest.mark.slow
GIB = 1024**3


def stream(*chunks: dict, done: bool = True) -> list[bytes]:
    """A role-only opener, the chunks, then [DONE]."""
    return [sse(chat_chunk(role="assistant")), *(sse(c) for c in chunks), *([sse("[DONE]")] if done else [])]


def collect(server, data_dir, *extra: str, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", "collect", "hi", "--server", server.url, "--warmup", "0",
                           "--max-new-tokens", "32", *extra], cwd=REPO_ROOT, env=cli_env(data_dir),
                          capture_output=True, text=True, timeout=120, preexec_fn=preexec_fn)


def stored(data_dir) -> tuple:
    """(status, error, tokens, token rows, token_source, server_tokens, server_timing) of the one session."""
    db = store_path(data_dir)
    (session_id, status, error, tokens), = read_only_query(db, "SELECT id, status, error, tokens FROM sessions")
    rows = read_only_query(db, "SELECT COUNT(*) FROM tokens WHERE session_id=?", (session_id,))[0][0]
    source, server_tokens, timing = read_only_query(
        db, "SELECT token_source, server_tokens, server_timing FROM remote_sessions WHERE session_id=?",
        (session_id,))[0]
    return status, error, tokens, rows, source, server_tokens, json.loads(timing or "{}")


def limited_memory() -> None:
    """A count believed would allocate a record per claimed token: the run fails at 2 GiB instead of
    taking a shared machine's memory (the client itself needs a few hundred MB)."""
    resource.setrlimit(resource.RLIMIT_AS, (2 * GIB, 2 * GIB))


def test_a_per_chunk_count_of_10_to_the_18_is_refused_and_the_chunks_count(tmp_path):
    huge = 10**18
    script = stream(chat_chunk("ab", usage={"completion_tokens": 1}), chat_chunk("cd", usage={"completion_tokens": huge}),
                    chat_chunk("ef", usage={"completion_tokens": huge + 1}),
                    chat_chunk(finish="length", usage={"completion_tokens": huge + 1, "prompt_tokens": 1}))
    with ServerThread(scripted_chat_app(script)) as server:
        result = collect(server, tmp_path, preexec_fn=limited_memory)
    assert result.returncode == 0, result.stderr
    status, error, tokens, rows, source, server_tokens, timing = stored(tmp_path)
    assert (status, error) == ("finished", None)
    assert tokens == rows == 3 and source == "chunks_uncounted"  # one per content chunk, said as such
    assert "server count refused" in timing["note"] and "server count refused" in result.stderr


def test_a_final_total_the_text_cannot_hold_is_refused_with_the_reason(tmp_path):
    script = stream(chat_chunk("a"), chat_chunk("b"), chat_chunk("c"),
                    chat_chunk(finish="length", usage={"completion_tokens": 3 * 10**6, "prompt_tokens": 1}))
    with ServerThread(scripted_chat_app(script)) as server:
        result = collect(server, tmp_path)
    assert result.returncode == 0, result.stderr
    status, _error, tokens, rows, source, server_tokens, timing = stored(tmp_path)
    assert status == "finished" and tokens == rows == 3 and source == "chunks_uncounted"
    assert server_tokens == 3 * 10**6  # what the server claimed stays visible beside what was stored
    assert "completion_tokens 3000000" in timing["note"] and "3 bytes of text" in timing["note"]


def test_a_total_within_the_text_is_split_over_the_chunks_by_text_length(tmp_path):
    """transformers serve / TGI style: no per-chunk counts, only a final total (24 tokens in 3 chunks)."""
    pieces = ["abcd", "efghijklmnop", "qrstuvwx"]
    script = stream(*(chat_chunk(p) for p in pieces),
                    chat_chunk(finish="length", usage={"completion_tokens": 24, "prompt_tokens": 2}))
    with ServerThread(scripted_chat_app(script)) as server:
        result = collect(server, tmp_path, "--no-stream-options")
    assert result.returncode == 0, result.stderr
    status, _error, tokens, rows, source, server_tokens, _timing = stored(tmp_path)
    assert status == "finished" and source == "server_total_split_by_text"
    assert tokens == rows == server_tokens == 24
    db = store_path(tmp_path)
    texts = read_only_query(db, "SELECT token_text FROM tokens ORDER BY k")
    assert "".join(t for (t,) in texts) == "".join(pieces)
    starts = [k for k, (text,) in enumerate(texts, 1) if text]  # a chunk's text rides on its first token
    assert [t for (t,) in texts if t] == pieces and starts == [1, 1 + 4, 1 + 4 + 12]  # 4, 12, 8 bytes: 4, 12, 8 tokens


@pytest.mark.parametrize("usage, field", [
    ({"prompt_tokens": 2.5, "completion_tokens": 3}, "usage.prompt_tokens"),
    ({"prompt_tokens": True, "completion_tokens": 3}, "usage.prompt_tokens"),
    ({"prompt_tokens": "7", "completion_tokens": 3}, "usage.prompt_tokens"),
    ({"prompt_tokens": 1, "completion_tokens": -11}, "usage.completion_tokens"),
    ({"prompt_tokens": 1, "completion_tokens": float("nan")}, "usage.completion_tokens"),
    ({"prompt_tokens": 1, "completion_tokens": 2**70}, "usage.completion_tokens"),
])
def test_a_bad_usage_value_fails_the_stream_in_one_line_and_every_later_read_works(tmp_path, usage, field):
    pieces = [chat_chunk(c) for c in "abcdefghij"]
    # json.dumps writes NaN as the bare token a hostile server sends
    script = stream(*pieces, chat_chunk(finish="length", usage=usage))
    with ServerThread(scripted_chat_app(script)) as server:
        result = collect(server, tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = [line for line in error_lines(result.stderr) if line.startswith("warning:")]
    assert field in line
    status, error, tokens, rows, source, server_tokens, _timing = stored(tmp_path)
    assert status == "failed" and field in error
    assert tokens == rows == 10 and source == "chunks_uncounted"  # every chunk that came is kept, said as chunks
    assert server_tokens is None
    # nothing stored can break a later read: sessions, show, and the session's export imported again
    (session_id,), = read_only_query(store_path(tmp_path), "SELECT id FROM sessions")
    exported = tmp_path / "out.csv"
    for args in (["sessions"], ["sessions", "--json"], ["show", session_id[:8]], ["export", "--all", "-o", str(exported)]):
        later = run_cli(*args, data_dir=tmp_path)
        assert later.returncode == 0 and "Traceback" not in later.stderr, (args, later.stderr)
    imported = run_cli("import", str(exported), data_dir=tmp_path / "again")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(run_cli("sessions", "--json", data_dir=tmp_path / "again").stdout)[0]["tokens"] == 10


def test_sigint_ends_a_run_whose_server_claims_10_to_the_18_tokens_a_chunk(tmp_path):
    def endless(_body):
        items = [sse(chat_chunk(role="assistant"))]
        for index in range(2000):
            items += [0.01, sse(chat_chunk("x", usage={"completion_tokens": (index + 1) * 10**15}))]
        return items

    with ServerThread(scripted_chat_app(endless)) as server:
        process = subprocess.Popen([sys.executable, "-m", "tui", "collect", "hi", "--server", server.url, "--warmup",
                                    "0", "--max-new-tokens", "2000"], cwd=REPO_ROOT, env=cli_env(tmp_path),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=limited_memory)
        db = store_path(tmp_path)
        # until chunks are on disk
        wait_for_count(db, "SELECT COUNT(*) FROM chunks WHERE content=1", 5, timeout_s=30, poll_s=0.1)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    (status, tokens), = read_only_query(db, "SELECT status, tokens FROM sessions")
    chunks = read_only_query(db, "SELECT COUNT(*) FROM chunks WHERE content=1")[0][0]
    assert status == "interrupted" and 0 < tokens <= chunks + 8
