"""Ollama's native API (/api/generate, /api/chat NDJSON) against a server written for these tests from
Ollama's API documentation (docs/api.md): Ollama itself can't be installed here. The server emits a
token every 10 ms and reports its own durations in the final object, as Ollama does."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from conftest import error_lines, read_only_query, run_cli
from profiler.store import store_path
from remote_servers import ServerThread

pytestmark = pytest.mark.slow
WORDS = ["The", " sky", " is", " blue", " because", " of", " Rayleigh", " scattering"]


def ollama_app(requests: list[dict]):
    from aiohttp import web

    loaded = {"model": None}

    async def stream(request, chat: bool):
        body = await request.json()
        requests.append(body)
        if body.get("model") != "tiny":
            return web.json_response({"error": f"model '{body.get('model')}' not found, try pulling it first"},
                                     status=404)
        cold = loaded["model"] is None  # the first request loads the model, as Ollama's load_duration shows
        loaded["model"] = body["model"]
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        started = time.perf_counter_ns()
        await asyncio.sleep(0.02)  # prompt evaluation
        prompt_done = time.perf_counter_ns()
        count = min(body["options"]["num_predict"], len(WORDS))
        for word in WORDS[:count]:
            await asyncio.sleep(0.01)
            piece = {"message": {"role": "assistant", "content": word}} if chat else {"response": word}
            await response.write(json.dumps({"model": "tiny", "created_at": "2024-01-01T00:00:00Z", **piece,
                                             "done": False}).encode() + b"\n")
        ended = time.perf_counter_ns()
        final = {"model": "tiny", "created_at": "2024-01-01T00:00:00Z", "done": True, "done_reason": "length",
                 "total_duration": ended - started + (1_500_000_000 if cold else 3_000_000),
                 "load_duration": 1_500_000_000 if cold else 3_000_000, "prompt_eval_count": 5,
                 "prompt_eval_duration": prompt_done - started, "eval_count": count,
                 "eval_duration": ended - prompt_done}
        final.update({"message": {"role": "assistant", "content": ""}} if chat else {"response": ""})
        await response.write(json.dumps(final).encode() + b"\n")
        await response.write_eof()
        return response

    async def generate(request):
        return await stream(request, chat=False)

    async def chat(request):
        return await stream(request, chat=True)

    app = web.Application()
    app.router.add_post("/api/generate", generate)
    app.router.add_post("/api/chat", chat)
    return app


@pytest.mark.parametrize("endpoint", ["generate", "chat"])
def test_ollama_stream_with_server_figures_and_a_flagged_cold_load(endpoint, tmp_path):
    requests: list[dict] = []
    with ServerThread(ollama_app(requests)) as server:
        result = run_cli("collect", "Why is the sky blue?", "--server", server.url, "--api", "ollama",
                         "--endpoint", endpoint, "--server-model", "tiny", "--max-new-tokens", "6", "--warmup", "1",
                         "--json", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert requests[0]["options"]["num_predict"] == 6 and requests[0]["stream"] is True
    assert ("messages" in requests[0]) == (endpoint == "chat")
    db = store_path(tmp_path)
    rows = read_only_query(db, "SELECT s.warmup, s.input_tokens, r.token_source, r.server_tokens, r.counted_tokens,"
                               " r.cold_load, r.server_timing FROM sessions s JOIN remote_sessions r"
                               " ON r.session_id = s.id ORDER BY s.started")
    (warm_flag, _, _, _, _, warm_cold, _), (flag, input_tokens, source, eval_count, counted, cold, timing) = rows
    assert warm_flag == 1 and warm_cold == 1  # the warm-up paid the model load, and it is flagged
    assert flag == 0 and cold == 0
    assert input_tokens == 5 and eval_count == counted == 6 and source == "one_per_chunk"
    timing = json.loads(timing)
    for key in ("load_duration", "prompt_eval_duration", "eval_duration", "eval_count"):
        assert key in timing
    # the client's figures next to the server's: the client sees the server's time plus the network's
    assert timing["client_minus_server_ttft_ms"] > 0
    assert {"server_tpot_ms", "client_tpot_ms", "client_minus_server_tpot_ms"} <= set(timing)
    assert "cold" not in result.stderr  # the cold load fell in the warm-up, not in a measured request


def test_a_cold_load_in_a_measured_request_is_flagged(tmp_path):
    with ServerThread(ollama_app([])) as server:
        result = run_cli("collect", "hi", "--server", server.url, "--api", "ollama", "--server-model", "tiny",
                         "--max-new-tokens", "3", "--warmup", "0", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 measured request(s) include a cold model load" in result.stderr


def test_an_unknown_ollama_model_is_one_line(tmp_path):
    with ServerThread(ollama_app([])) as server:
        result = run_cli("collect", "hi", "--server", server.url, "--api", "ollama", "--server-model", "nope",
                         "--warmup", "0", data_dir=tmp_path)
    assert result.returncode == 2
    assert error_lines(result.stderr)[-1] == ("tokenlat-tui: error: server answered 404 Not Found: "
                                              "model 'nope' not found, try pulling it first")


def test_show_and_export_say_the_timing_is_client_arrival(tmp_path):
    import csv

    with ServerThread(ollama_app([])) as server:
        result = run_cli("collect", "hi", "--server", server.url, "--api", "ollama", "--server-model", "tiny",
                         "--max-new-tokens", "4", "--warmup", "1", "--json", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    session_id = [s for s in json.loads(result.stdout)["sessions"] if not s["warmup"]][0]["id"]
    shown = run_cli("show", session_id, data_dir=tmp_path)
    assert "client arrival timing (per-token latencies derived from chunk gaps)" in shown.stdout
    assert "from one_per_chunk" in shown.stdout and "load_duration=" in shown.stdout
    shown_json = json.loads(run_cli("show", session_id, "--json", data_dir=tmp_path).stdout)
    assert shown_json["timing"] == "arrival"
    assert [c["text"] for c in shown_json["remote"]["chunk_rows"] if c["content"]] == WORDS[:4]
    out = tmp_path / "remote.csv"
    exported = run_cli("export", "--all", "-o", str(out), data_dir=tmp_path)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8 and {row["timing"] for row in rows} == {"arrival"}
