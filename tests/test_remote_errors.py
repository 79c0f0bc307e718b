"""Failures of a remote server or the network: one line each, and nothing that arrived is lost.

Servers here are aiohttp apps written for the tests (passed in by URL): they script what a real
server does when it fails (a stall, a malformed event, an HTTP error, a self-signed certificate).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from conftest import cli_env, error_lines, read_only_query, run_cli
from profiler.store import store_path
from remote_servers import ServerThread, chat_chunk, free_port, self_signed_context, sse

pytestmark = pytest.mark.slow
SECRET = "sk-test-0123456789abcdef-SECRET"
WRONG = "sk-wrong-key-XYZ987"


def scripted_app(script, seen: list | None = None):
    """POST /v1/chat/completions runs `script(response)` after sending a role-only first chunk."""
    from aiohttp import web

    async def chat(request):
        body = await request.json()
        if seen is not None:
            seen.append({"headers": dict(request.headers), "body": body})
        auth = request.headers.get("Authorization", "")
        if auth and auth != f"Bearer {SECRET}":
            return web.json_response({"error": {"message": f"invalid key {auth}"}}, status=401)
        if script == "500":
            return web.json_response({"error": {"message": "CUDA out of memory on worker 3"}}, status=500)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse(chat_chunk(role="assistant")))
        await script(response)
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def three_tokens_then_stall(response):
    for piece in ("a", "b", "c"):
        await asyncio.sleep(0.005)
        await response.write(sse(chat_chunk(piece)))
    await asyncio.sleep(30)  # the client gives up long before


async def two_tokens_then_garbage(response):
    for piece in ("a", "b"):
        await response.write(sse(chat_chunk(piece)))
    await response.write(b"data: {oops\n\n")


async def complete(response):
    for piece in ("x", "y", "z"):
        await asyncio.sleep(0.002)
        await response.write(sse(chat_chunk(piece)))
    await response.write(sse(chat_chunk(finish="length", usage={"completion_tokens": 3, "prompt_tokens": 2})))
    await response.write(sse("[DONE]"))


def sessions(tmp_path):
    return read_only_query(store_path(tmp_path), "SELECT status, error, tokens FROM sessions ORDER BY started")


def test_connection_refused_is_one_line_and_the_request_is_recorded(tmp_path):
    result = run_cli("collect", "hi", "--server", f"http://127.0.0.1:{free_port()}", "--warmup", "0",
                     data_dir=tmp_path)
    assert result.returncode == 2
    assert error_lines(result.stderr)[-1].startswith("tokenlat-tui: error: can't connect to 127.0.0.1:")
    assert "connection refused" in result.stderr and "Traceback" not in result.stderr
    assert [s[0] for s in sessions(tmp_path)] == ["failed"]


def test_dns_failure_is_one_line(tmp_path):
    result = run_cli("collect", "hi", "--server", "http://no-such-host.invalid:8000", "--warmup", "0",
                     data_dir=tmp_path)
    assert result.returncode == 2
    assert error_lines(result.stderr)[-1].startswith("tokenlat-tui: error: can't resolve host 'no-such-host.invalid'")


def test_server_error_status_and_message(tmp_path):
    with ServerThread(scripted_app("500")) as server:
        result = run_cli("collect", "hi", "--server", server.url, "--warmup", "0", "--concurrency", "3",
                         data_dir=tmp_path)
    assert result.returncode == 2
    assert error_lines(result.stderr)[-1] == ("tokenlat-tui: error: server answered 500 Internal Server Error: "
                                              "CUDA out of memory on worker 3")
    assert {s[0] for s in sessions(tmp_path)} == {"failed"}


def test_a_stall_ends_the_session_interrupted_with_its_tokens(tmp_path):
    with ServerThread(scripted_app(three_tokens_then_stall)) as server:
        result = run_cli("collect", "hi", "--server", server.url, "--warmup", "0", "--stream-timeout", "0.5",
                         data_dir=tmp_path)
    assert result.returncode == 1
    assert "warning: 1 stream(s): stream stalled: no data for 0.5 s after 4 chunks" in result.stderr
    (status, error, tokens), = sessions(tmp_path)
    assert status == "interrupted" and "stalled" in error and tokens == 3
    chunks = read_only_query(store_path(tmp_path), "SELECT text FROM chunks ORDER BY n")
    assert [c[0] for c in chunks] == ["", "a", "b", "c"]


async def slow_but_steady(response):
    for piece in "abcdefgh":
        await asyncio.sleep(0.2)
        await response.write(sse(chat_chunk(piece)))
    await response.write(sse("[DONE]"))


def test_a_stream_slower_than_its_timeout_in_total_but_never_silent_that_long_is_not_a_stall(tmp_path):
    """--stream-timeout is silence, not duration: 8 chunks 0.2 s apart (1.6 s) with a 0.5 s timeout
    finish (the read timer stays armed across reads and re-arms for what is left: stamping.py)."""
    with ServerThread(scripted_app(slow_but_steady)) as server:
        result = run_cli("collect", "hi", "--server", server.url, "--warmup", "0", "--stream-timeout", "0.5",
                         data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    (status, error, tokens), = sessions(tmp_path)
    assert (status, error, tokens) == ("finished", None, 8)


def test_a_malformed_event_fails_the_session_and_keeps_what_came_before(tmp_path):
    with ServerThread(scripted_app(two_tokens_then_garbage)) as server:
        result = run_cli("collect", "hi", "--server", server.url, "--warmup", "0", data_dir=tmp_path)
    assert result.returncode == 1
    assert "malformed event (not JSON): '{oops'" in result.stderr
    (status, error, tokens), = sessions(tmp_path)
    assert status == "failed" and "malformed event" in error and tokens == 2


def test_tls_is_verified_unless_insecure(tmp_path):
    with ServerThread(scripted_app(complete), ssl_context=self_signed_context(tmp_path)) as server:
        refused = run_cli("collect", "hi", "--server", server.url, "--warmup", "0", data_dir=tmp_path / "a")
        allowed = run_cli("collect", "hi", "--server", server.url, "--warmup", "0", "--insecure",
                          data_dir=tmp_path / "b")
    assert refused.returncode == 2
    assert error_lines(refused.stderr)[-1].startswith("tokenlat-tui: error: TLS certificate of 127.0.0.1:")
    assert "--insecure" in refused.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert [s[0] for s in sessions(tmp_path / "b")] == ["finished"]


def test_the_api_key_is_sent_but_never_stored_exported_or_printed(tmp_path):
    seen: list = []
    key_file = tmp_path / "key.txt"
    key_file.write_text(SECRET + "\n")
    env = cli_env(tmp_path / "data", TEST_API_KEY=SECRET)
    with ServerThread(scripted_app(complete, seen)) as server:
        by_env = run_cli("collect", "hi", "--server", server.url, "--warmup", "0", "--api-key-env", "TEST_API_KEY",
                         "--json", env=env)
        by_file = run_cli("collect", "hi", "--server", server.url, "--warmup", "0", "--api-key-file", str(key_file),
                          env=env)
        wrong = run_cli("collect", "hi", "--server", server.url, "--warmup", "0", "--api-key-env", "WRONG_KEY",
                        env={**env, "WRONG_KEY": WRONG})
    assert by_env.returncode == 0 and by_file.returncode == 0, by_env.stderr + by_file.stderr
    assert [s["headers"].get("Authorization") for s in seen] == [f"Bearer {SECRET}"] * 2 + [f"Bearer {WRONG}"]
    # the server's 401 echoed the key: the error line shows it masked
    assert wrong.returncode == 2 and "***" in wrong.stderr
    exported = tmp_path / "out.csv"
    export = run_cli("export", "--all", "-o", str(exported), env=env)
    assert export.returncode == 0, export.stderr
    show = run_cli("sessions", "--json", env=env)
    outputs = [by_env.stdout, by_env.stderr, by_file.stdout, by_file.stderr, wrong.stdout, wrong.stderr,
               export.stdout, export.stderr, show.stdout]
    for key in (SECRET, WRONG):
        assert all(key not in text for text in outputs)
        assert key not in exported.read_text()
        for path in (tmp_path / "data").iterdir():  # the store and its WAL
            assert key.encode() not in path.read_bytes(), path
    assert json.loads(by_env.stdout)["sessions"][0]["status"] == "finished"


@pytest.mark.parametrize("args, message", [
    (["--server", "http://127.0.0.1:9", "--model", "x"], "--model is for a local model; it can't be combined with --server"),
    (["--api", "ollama"], "--api needs --server URL"),
    (["--server", "http://127.0.0.1:9", "--api", "ollama"], "--api ollama needs --server-model NAME"),
    (["--server", "ftp://host"], "--server must be an http:// or https:// URL with a host"),
    (["--server", "http://127.0.0.1:9", "--endpoint", "generate"], "--endpoint for --api openai must be one of"),
    (["--server", "http://127.0.0.1:9", "--concurrency", "0"], "--concurrency must be from 1 to"),
    (["--server", "http://127.0.0.1:9", "--api-key-env", "NO_SUCH_VARIABLE_X"],
     "--api-key-env NO_SUCH_VARIABLE_X: that environment variable is not set or empty"),
    (["--server", "http://127.0.0.1:9", "--extra-body", "[1]"], "--extra-body must be a JSON object"),
    (["--server", "http://127.0.0.1:9", "--api", "ollama", "--server-model", "m", "--ignore-eos"],
     "--ignore-eos: Ollama's API has no such option"),
])
def test_bad_remote_flags_are_one_line_before_any_request(args, message, tmp_path):
    result = run_cli("collect", "hi", *args, data_dir=tmp_path)
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"tokenlat-tui: error: {message}")


def test_a_server_that_does_not_stream_is_named(tmp_path):
    from aiohttp import web

    async def chat(_request):
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": "whole answer"}}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    with ServerThread(app) as server:
        result = run_cli("collect", "hi", "--server", server.url, "--warmup", "0", data_dir=tmp_path)
    assert result.returncode == 1
    assert "one JSON body, not an event stream" in result.stderr
    assert [s[0] for s in sessions(tmp_path)] == ["failed"]
