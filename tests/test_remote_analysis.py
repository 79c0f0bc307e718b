"""What comes after collecting from a server: export, fit and compare work on remote sessions, with
each token's context size = the prompt's token count (the server's usage.prompt_tokens) + k - 1.

The server is scripted (passed in by URL) so the truth is known: it counts one prompt token per
character, and each token's delay grows with its context, as a device's would.
"""

from __future__ import annotations

import asyncio
import csv
import json

import pytest

from conftest import run_cli
from remote_servers import ServerThread, chat_chunk, sse

pytestmark = pytest.mark.slow
PROMPTS = ["short", "a somewhat longer prompt", "the longest prompt of the three, by some way"]
NEW_TOKENS = 12


def context_server():
    from aiohttp import web

    async def chat(request):
        body = await request.json()
        prompt_tokens = len(body["messages"][0]["content"])  # one token per character, said in usage
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse(chat_chunk(role="assistant")))
        for k in range(1, body["max_tokens"] + 1):
            await asyncio.sleep((1.0 + 0.02 * (prompt_tokens + k - 1)) / 1000)
            await response.write(sse(chat_chunk(f"t{k} ", usage={"completion_tokens": k})))
        await response.write(sse(chat_chunk(finish="length", usage={"completion_tokens": body["max_tokens"],
                                                                    "prompt_tokens": prompt_tokens})))
        await response.write(sse("[DONE]"))
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


@pytest.fixture(scope="module")
def remote_store(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("remote-analysis")
    with ServerThread(context_server()) as server:
        result = run_cli("collect", *PROMPTS, "--server", server.url, "--repeat", "2", "--warmup", "0",
                         "--max-new-tokens", str(NEW_TOKENS), "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    sessions = json.loads(result.stdout)["sessions"]
    assert len(sessions) == 6 and {s["status"] for s in sessions} == {"finished"}
    return data_dir, [s["id"] for s in sessions]


def test_export_gives_each_token_its_context_from_the_prompt_count(remote_store, tmp_path):
    data_dir, ids = remote_store
    out = tmp_path / "remote.csv"
    result = run_cli("export", "--all", "-o", str(out), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 * NEW_TOKENS and {row["timing"] for row in rows} == {"arrival"}
    for row in rows:
        assert int(row["Input_Token_Length"]) == len(row["prompt"])
        assert int(row["Context_Size"]) == int(row["Input_Token_Length"]) + int(row["Token_Index_k"]) - 1


def test_fit_evaluates_predictors_on_remote_sessions(remote_store):
    data_dir, ids = remote_store
    result = run_cli("fit", *ids, "--predictor", "ridge", "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["sessions"]) == sorted(ids) and report["tokens"] == 6 * NEW_TOKENS
    assert report["configuration"]["backend"] == "openai-server" and report["configuration"]["device"] == "remote"
    ridge = report["predictors"]["ridge"]
    assert ridge["tokens"] == 6 * NEW_TOKENS and ridge["folds"] >= 2  # held out by session, as for local runs


def test_compare_two_remote_runs_says_how_they_were_timed(remote_store):
    data_dir, ids = remote_store
    result = run_cli("compare", ",".join(ids[:2]), ",".join(ids[-2:]), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "client arrival timing" in result.stdout
