"""Broken, empty and endless replies (issue 23 §4–5): each ends `failed` or `interrupted` with the chunks
that came and one line naming what was wrong, never `finished` with exit 0, and never a hang.

The servers are real sockets on 127.0.0.1 (remote_servers.RawServer) sending what an HTTP framework
won't: a body cut by FIN or RST, a body delimited by the connection's close, an invalid chunk-size line,
a line of megabytes; and aiohttp apps (scripted_chat_app) for a wrong Content-Type or an empty body.
"""

from __future__ import annotations

import time

import pytest

from conftest import error_lines, read_only_query, run_cli
from profiler.store import store_path
from remote_servers import (CHUNKED_END, SSE_HEAD_CHUNKED, SSE_HEAD_UNTIL_CLOSE, RawServer, ServerThread, chat_chunk,
                            http_chunk, reset, scripted_chat_app, sse)

pytestmark = pytest.mark.slow
PIECES = [sse(chat_chunk(role="assistant"))] + [sse(chat_chunk(c)) for c in "abcdefghij"]
FINISH = sse(chat_chunk(finish="stop", usage={"completion_tokens": 10, "prompt_tokens": 1}))


def collect(server, data_dir, *extra: str):
    return run_cli("collect", "hi", "--server", server.url, "--warmup", "0", "--max-new-tokens", "16", *extra,
                   data_dir=data_dir)


def outcome(data_dir) -> tuple[str, str | None, int, int]:
    """(status, error, tokens, content chunks) of the run's one session."""
    db = store_path(data_dir)
    (session_id, status, error, tokens), = read_only_query(db, "SELECT id, status, error, tokens FROM sessions")
    chunks = read_only_query(db, "SELECT COUNT(*) FROM chunks WHERE session_id=? AND content=1", (session_id,))[0][0]
    return status, error, tokens, chunks


def one_warning(result) -> str:
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    (line,) = [line for line in error_lines(result.stderr) if line.startswith("warning:")]
    return line


def cut_by_fin(conn):
    conn.sendall(SSE_HEAD_UNTIL_CLOSE + b"".join(PIECES))


def cut_by_rst(conn):
    conn.sendall(SSE_HEAD_UNTIL_CLOSE + b"".join(PIECES))
    time.sleep(0.2)
    reset(conn)


def finish_reason_then_close(conn):
    conn.sendall(SSE_HEAD_UNTIL_CLOSE + b"".join(PIECES) + FINISH)


def chunked_cut_by_fin(conn):
    conn.sendall(SSE_HEAD_CHUNKED + b"".join(http_chunk(p) for p in PIECES))


@pytest.mark.parametrize("script, words", [
    (cut_by_fin, "without [DONE] or a finish_reason after 11 chunks (the server closed the connection)"),
    (cut_by_rst, "without [DONE] or a finish_reason after 11 chunks"),
    (finish_reason_then_close, "without [DONE] after 12 chunks (the server closed the connection)"),
    (chunked_cut_by_fin, "broke off"),
])
def test_a_stream_cut_short_is_failed_with_its_chunks(tmp_path, script, words):
    with RawServer(script) as server:
        result = collect(server, tmp_path)
    assert words in one_warning(result)
    status, error, tokens, chunks = outcome(tmp_path)
    assert status == "failed" and chunks == tokens == 10 and error


def test_a_finish_reason_and_a_complete_chunked_body_without_done_finishes_with_a_note(tmp_path):
    """transformers serve never sends [DONE]: its body ends properly after the finish_reason chunk."""
    def complete_without_done(conn):
        conn.sendall(SSE_HEAD_CHUNKED + b"".join(http_chunk(p) for p in [*PIECES, FINISH]) + CHUNKED_END)

    with RawServer(complete_without_done) as server:
        result = collect(server, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: 1 stream(s): the stream ended without [DONE] (finish_reason stop" in result.stderr
    assert outcome(tmp_path) == ("finished", None, 10, 10)


@pytest.mark.parametrize("content_type, script, words", [
    ("text/html", [b"<html><body>Welcome to nginx!</body></html>"], "Content-Type text/html, not an event stream"),
    ("text/event-stream", [], "reply held no events (an empty stream)"),
])
def test_a_reply_that_is_not_a_stream_is_failed_in_one_line(tmp_path, content_type, script, words):
    with ServerThread(scripted_chat_app(script, content_type=content_type)) as server:
        result = collect(server, tmp_path)
    assert words in one_warning(result)
    assert outcome(tmp_path)[:3] == ("failed", outcome(tmp_path)[1], 0)
    assert words in outcome(tmp_path)[1]


def test_an_invalid_chunk_size_line_then_a_close_ends_the_stream_at_once(tmp_path):
    """aiohttp's reader waits for ever here (its read timer dropped with the parse error): the client's
    own watch sees the closed connection, long before --stream-timeout."""
    def bad_chunk_size(conn):
        conn.sendall(SSE_HEAD_CHUNKED + b"".join(http_chunk(p) for p in PIECES[:3]))
        time.sleep(0.3)
        conn.sendall(b"z" * 10000 + b"\r\n")

    with RawServer(bad_chunk_size) as server:
        result = collect(server, tmp_path, "--stream-timeout", "600")  # the subprocess's limit is 120 s
    assert "closed the connection before the stream ended (after 3 chunks" in one_warning(result)
    status, _error, tokens, chunks = outcome(tmp_path)
    assert status == "failed" and tokens == chunks == 2


def test_stream_timeout_covers_a_reader_stuck_on_an_open_connection(tmp_path):
    def bad_chunk_size_then_silence(conn):
        conn.sendall(SSE_HEAD_CHUNKED + b"".join(http_chunk(p) for p in PIECES[:3]))
        time.sleep(0.3)
        conn.sendall(b"z" * 10000)  # an endless chunk-size line: no close, no more bytes
        time.sleep(60)

    with RawServer(bad_chunk_size_then_silence) as server:
        result = collect(server, tmp_path, "--stream-timeout", "1")
    line = one_warning(result)
    assert "no data for 1 s" in line or "closed the connection" in line
    status, _error, tokens, _chunks = outcome(tmp_path)
    assert status in ("interrupted", "failed") and tokens == 2


def test_an_event_over_the_size_limit_is_failed_naming_the_limit(tmp_path):
    def huge_line(conn):
        conn.sendall(SSE_HEAD_UNTIL_CLOSE + b"".join(PIECES[:3]) + b"data: " + b"x" * (4 << 20) + b"\n\n")

    with RawServer(huge_line) as server:
        result = collect(server, tmp_path)
    assert "an event longer than 1 MiB (the limit for one event)" in one_warning(result)
    status, _error, tokens, chunks = outcome(tmp_path)
    assert status == "failed" and tokens == chunks == 2


def test_a_long_event_is_searched_once_not_once_per_read():
    """The parser's work on an event arriving in many reads is linear: each read is searched for a frame
    end once (counted through the parser's own search), not the whole buffer again on every read."""
    from profiler.remote.events import SseParser

    class Counting(SseParser):
        searched = 0

        def _boundary(self, buffer, start):
            Counting.searched += len(buffer) - start
            return super()._boundary(buffer, start)

    parser = Counting()
    piece = b"x" * 4096
    parser.feed(b"data: ")
    for _ in range(200):
        assert parser.feed(piece) == []
    (event,) = parser.feed(b"\n\n")
    assert len(event[1]) == 200 * 4096
    assert Counting.searched < 3 * 200 * 4096  # quadratic would be ~100x the bytes
