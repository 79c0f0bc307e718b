"""Remote arguments with bounds (issue 22) and secrets in URLs (issue 23 §7): a real `tokenlat-tui`
subprocess prints one line, exits 2 and stores nothing; a password in --server is never printed or
stored; a server's error text reaches the terminal with its control characters made visible."""

from __future__ import annotations

import json

import pytest

from conftest import error_lines, read_only_query, run_cli
from profiler.store import SessionStore, store_path
from remote_servers import ServerThread, chat_chunk, free_port, scripted_chat_app, sse
from test_bad_args_cli import assert_nothing_stored, assert_one_line

pytestmark = pytest.mark.slow
PASSWORD = "hunter2-PASSWORD-0123"


@pytest.mark.parametrize("args, words", [
    (["--concurrency", "1000000000"], ["--concurrency", "from 1 to 1024", "1000000000"]),
    (["--num-requests", "1000000000000"], ["--num-requests", "from 1 to", "1000000000000"]),
    (["--request-rate", "inf"], ["--request-rate", "finite", "inf"]),
    (["--request-rate", "nan"], ["--request-rate", "finite", "nan"]),
    (["--request-rate", "0"], ["--request-rate", "above 0"]),
    (["--extra-body", '{"temperature": NaN}'], ["--extra-body", "NaN", "finite"]),
    (["--extra-body", '{"x": [Infinity]}'], ["--extra-body", "Infinity"]),
    (["--api-key-file", "/dev/zero"], ["--api-key-file /dev/zero", "larger than 4096 bytes"]),
    (["--stream-timeout", "inf"], ["--stream-timeout", "inf"]),
    (["--tokenizer", ".", "--no-tokenizer"], ["--tokenizer", "--no-tokenizer"]),
])
def test_an_unbounded_remote_argument_is_one_line_before_any_work(tmp_path, args, words):
    result = run_cli("collect", "hi", "--server", f"http://127.0.0.1:{free_port()}", "--warmup", "0", *args,
                     data_dir=tmp_path, timeout=60)
    assert_one_line(result, *words)
    assert_nothing_stored(tmp_path)


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999", "http://127.0.0.1:port"])
def test_a_server_url_that_does_not_parse_is_one_line(tmp_path, url):
    assert_one_line(run_cli("collect", "hi", "--server", url, "--warmup", "0", data_dir=tmp_path, timeout=60),
                    "--server", "not a valid URL")
    assert_nothing_stored(tmp_path)


def test_credentials_in_the_server_url_are_dropped_before_anything_is_printed_or_stored(tmp_path):
    seen: list = []

    def script(body):
        seen.append(body)
        return [sse(chat_chunk(role="assistant")), sse(chat_chunk("ok")),
                sse(chat_chunk(finish="stop", usage={"completion_tokens": 1, "prompt_tokens": 1})), sse("[DONE]")]

    with ServerThread(scripted_chat_app(script)) as server:
        url = server.url.replace("http://", f"http://admin:{PASSWORD}@")
        result = run_cli("collect", "hi", "--server", url, "--warmup", "0", "--json", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in error_lines(result.stderr) if "credentials" in line]
    assert len(warnings) == 1 and "--api-key-env" in warnings[0]
    assert PASSWORD not in result.stdout + result.stderr and "admin" not in result.stderr
    (url_stored,), = read_only_query(store_path(tmp_path), "SELECT url FROM remote_sessions")
    assert url_stored == f"{server.url}/v1/chat/completions"
    for path in tmp_path.iterdir():  # the store, its WAL: nowhere on disk
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    sessions = run_cli("sessions", "--json", data_dir=tmp_path)
    assert PASSWORD not in sessions.stdout and json.loads(sessions.stdout)[0]["status"] == "finished"


def test_a_servers_error_text_is_shown_with_control_characters_visible(tmp_path):
    from aiohttp import web

    async def chat(_request):
        return web.json_response({"error": {"message": "boom \x1b]0;owned\x07\x1b[2J gone"}}, status=500)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    with ServerThread(app) as server:
        result = run_cli("collect", "hi", "--server", server.url, "--warmup", "0", data_dir=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = error_lines(result.stderr)[-1]
    assert line.startswith("tokenlat-tui: error: server answered 500") and "boom" in line
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "\u241b]0;owned" in line  # ESC shown as its control picture
    (error,), = read_only_query(store_path(tmp_path), "SELECT error FROM sessions")
    assert "\x1b" not in error
    assert SessionStore(tmp_path).list_sessions()[0]["status"] == "failed"


def test_the_connection_form_has_the_tokenizer_opt_out_and_drops_url_credentials():
    from tui.connection_settings import ConnectionSettings

    form = ConnectionSettings(server=f"http://admin:{PASSWORD}@127.0.0.1:8000", server_model="some/model",
                              no_tokenizer=True)
    options = form.to_options()
    assert options.no_tokenizer and options.dropped_credentials and PASSWORD not in options.server
    again = ConnectionSettings.from_options(options)
    assert again.no_tokenizer and PASSWORD not in again.server
