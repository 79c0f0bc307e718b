"""Concurrency and interruption against a scripted OpenAI-style server (passed in by URL): Poisson
arrivals, and a SIGINT while streams are in flight leaving every stream saved as interrupted."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, cli_env, read_only_query, run_cli, wait_for_count
from profiler.store import store_path
from remote_servers import ServerThread, chat_chunk, sse

pytestmark = pytest.mark.slow


def streaming_app(pieces: int, interval_s: float):
    from aiohttp import web

    async def chat(request):
        await request.json()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse(chat_chunk(role="assistant")))
        for index in range(pieces):
            await asyncio.sleep(interval_s)
            await response.write(sse(chat_chunk(f"t{index} ", usage={"completion_tokens": index + 1})))
        await response.write(sse(chat_chunk(finish="length", usage={"completion_tokens": pieces})))
        await response.write(sse("[DONE]"))
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def test_poisson_arrivals_record_client_queueing(tmp_path):
    with ServerThread(streaming_app(5, 0.002)) as server:
        result = run_cli("collect", "a", "b", "--server", server.url, "--warmup", "1", "--request-rate", "40",
                         "--num-requests", "6", "--concurrency", "2", "--json", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)["run"]
    assert run["request_rate"] == 40 and run["streams"] == run["finished"] == 6 and run["tokens"] == 30
    assert run["token_sources"] == ["usage_per_chunk"]
    rows = read_only_query(store_path(tmp_path), "SELECT s.prompt, r.queue_ms FROM sessions s JOIN remote_sessions r"
                                                 " ON r.session_id = s.id WHERE s.warmup = 0 ORDER BY s.started")
    assert [prompt for prompt, _ in rows] == ["a", "b"] * 3  # prompts cycle over the requests
    assert all(queue_ms is not None and queue_ms >= 0 for _, queue_ms in rows)


def test_sigint_saves_every_stream_in_flight_as_interrupted_with_its_tokens(tmp_path):
    with ServerThread(streaming_app(2000, 0.01)) as server:
        process = subprocess.Popen([sys.executable, "-m", "tui", "collect", "hi", "--server", server.url, "--warmup",
                                    "0", "--concurrency", "3", "--max-new-tokens", "2000"], cwd=REPO_ROOT,
                                   env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        db = store_path(tmp_path)
        # until every stream has chunks on disk
        wait_for_count(db, "SELECT COUNT(DISTINCT session_id) FROM chunks WHERE content = 1", 3)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    rows = read_only_query(db, "SELECT status, tokens, id FROM sessions")
    assert len(rows) == 3 and {status for status, _, _ in rows} == {"interrupted"}
    for _status, tokens, session_id in rows:
        chunks = read_only_query(db, "SELECT COUNT(*) FROM chunks WHERE session_id=? AND content=1", (session_id,))
        assert tokens > 0 and tokens == chunks[0][0]  # every arrived chunk kept, each counted
    assert "Traceback" not in err


def test_sigkill_mid_stream_leaves_the_tokens_that_arrived(tmp_path):
    """Chunks that carry their own count (per-chunk usage here) reach the store as tokens while the
    stream runs; a SIGKILL can't be caught, yet the reopened store has them, marked interrupted."""
    from profiler.store import SessionStore

    with ServerThread(streaming_app(2000, 0.01)) as server:
        process = subprocess.Popen([sys.executable, "-m", "tui", "collect", "hi", "--server", server.url, "--warmup",
                                    "0", "--max-new-tokens", "2000"], cwd=REPO_ROOT, env=cli_env(tmp_path),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        db = store_path(tmp_path)
        wait_for_count(db, "SELECT COUNT(*) FROM tokens", 5)
        process.kill()
        process.wait(30)
    store = SessionStore(tmp_path)  # opening it recovers the orphaned session
    (session,) = store.list_sessions()
    assert session["status"] == "interrupted"
    tokens = store.session_tokens(session["id"])
    chunks = read_only_query(db, "SELECT COUNT(*) FROM chunks WHERE content = 1")[0][0]
    assert 5 <= len(tokens) <= chunks
    assert [t["k"] for t in tokens] == list(range(1, len(tokens) + 1))
    assert tokens[0]["phase"] == "prefill" and {t["phase"] for t in tokens[1:]} == {"decode"}


def test_the_store_writer_process_ends_the_sessions_of_a_killed_run_itself(tmp_path):
    """The run's store writer is a process of its own (profiler/remote/store_writer.py). When the run is
    SIGKILLed, the writer's pipe closes and it ends every open stream's session as interrupted, with its
    tokens, before anyone opens the store; the sessions name the run's process as theirs, not the writer."""
    import psutil

    with ServerThread(streaming_app(2000, 0.01)) as server:
        process = subprocess.Popen([sys.executable, "-m", "tui", "collect", "hi", "--server", server.url, "--warmup",
                                    "0", "--max-new-tokens", "2000", "--concurrency", "2", "--num-requests", "2"],
                                   cwd=REPO_ROOT, env=cli_env(tmp_path), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        db = store_path(tmp_path)
        wait_for_count(db, "SELECT COUNT(DISTINCT session_id) FROM tokens", 2)  # both streams (of 2) have tokens
        writers = [child for child in psutil.Process(process.pid).children()
                   if "profiler.remote.store_writer" in " ".join(child.cmdline())]
        assert len(writers) == 1
        process.kill()
        process.wait(30)
        _gone, alive = psutil.wait_procs(writers, timeout=30)
        assert not alive
    rows = read_only_query(db, "SELECT status, error, pid, tokens, id FROM sessions")
    assert len(rows) == 2
    for status, error, pid, tokens, session_id in rows:
        assert (status, error, pid) == ("interrupted", "the run's process ended before this stream did", process.pid)
        stored = read_only_query(db, "SELECT COUNT(*) FROM tokens WHERE session_id=?", (session_id,))[0][0]
        assert tokens == stored > 0


def no_file_past_512_kib() -> None:
    """A full disk without root: the run (and its writer process, which inherits the limit) can't grow a
    file past 512 KiB, so the store's writes fail with EFBIG (Python ignores SIGXFSZ)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 19, 1 << 19))


def test_a_store_the_writer_process_cannot_write_is_one_line(tmp_path):
    """An error in the writer process (here a file-size limit, as a full disk would) comes back to the
    run and out of the CLI as one line, non-zero, no traceback. (A foreign trigger, used here before,
    is now refused when the store is opened: profiler/store/ownership.py.)"""
    from profiler.store import SessionStore

    SessionStore(tmp_path).close()
    with ServerThread(streaming_app(5000, 0.0005)) as server:
        process = subprocess.Popen([sys.executable, "-m", "tui", "collect", "hi", "--server", server.url,
                                    "--warmup", "0", "--max-new-tokens", "5000"], cwd=REPO_ROOT,
                                   env=cli_env(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, preexec_fn=no_file_past_512_kib)
        _out, err = process.communicate(timeout=300)
    assert process.returncode != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "can't write the session store" in line]
    assert len(lines) == 1 and lines[0].count("can't write the session store") == 1, err


def test_two_remote_runs_and_every_command_in_loops_share_one_store(tmp_path):
    """The remote writer (its own thread and connection per run) beside another remote run and the
    `sessions`/`show`/`export`/`import`/`delete` loops of the store stress test: nothing lost."""
    from test_store_concurrency import COLLECT_PROMPT, CommandLoops, check_store

    data_dir, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    pieces, requests = 150, 8  # ~3 s a run: the loops overlap it many times
    loops = CommandLoops(data_dir, work).start()
    try:
        with ServerThread(streaming_app(pieces, 0.01)) as server:
            runs = [subprocess.Popen([sys.executable, "-m", "tui", "collect", f"{COLLECT_PROMPT} remote {n}",
                                      "--server", server.url, "--warmup", "0", "--concurrency", "4",
                                      "--num-requests", str(requests), "--json"],
                                     cwd=REPO_ROOT, env=cli_env(data_dir), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(2)]
            outputs = [run.communicate(timeout=300) for run in runs]
    finally:
        loops.finish()
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err
        summary = json.loads(out)["run"]
        assert summary["streams"] == summary["finished"] == requests and summary["tokens"] == requests * pieces
    rows = read_only_query(store_path(data_dir), "SELECT status, tokens FROM sessions WHERE timing = 'arrival'")
    assert len(rows) == 2 * requests and set(rows) == {("finished", pieces)}
    assert loops.failures == [], loops.failures[:5]
    assert all(loops.counts.get(name, 0) >= 2 for name in ("sessions", "export", "import")), loops.counts
    check_store(data_dir)
