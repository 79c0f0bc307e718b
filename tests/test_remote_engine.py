"""Remote runs through the engine (what the app uses): the same `Engine` the process runs, in this
process (`InProcessEngine`), against scripted OpenAI-style servers passed in by URL; and one
through the real engine process, which goes on storing a server run after its client is gone."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from conftest import read_only_query
from profiler.collect import RunSettings
from profiler.engine.client import EngineClient, InProcessEngine
from profiler.engine.protocol import token_from_list
from profiler.remote.options import RemoteOptions
from profiler.store import SessionStore, store_path
from remote_servers import ServerThread, chat_chunk, free_port, sse

pytestmark = pytest.mark.slow


def chunked_app(pieces: int, interval_s: float, *, per_chunk_usage: bool = True, tokens_per_piece: int = 1):
    """`pieces` content chunks; with per_chunk_usage each says its running total (vLLM style), else
    only the last chunk's usage gives the total (transformers serve style: several tokens in a chunk)."""
    from aiohttp import web

    async def chat(request):
        await request.json()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse(chat_chunk(role="assistant")))
        for index in range(pieces):
            await asyncio.sleep(interval_s)
            usage = {"completion_tokens": (index + 1) * tokens_per_piece} if per_chunk_usage else None
            await response.write(sse(chat_chunk(f"p{index} ", usage=usage)))
        await response.write(sse(chat_chunk(finish="length", usage={"completion_tokens": pieces * tokens_per_piece,
                                                                    "prompt_tokens": 3})))
        await response.write(sse("[DONE]"))
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


class Events:
    """Every event the engine sends, in order; waits for one by type."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self._changed = threading.Condition()

    def __call__(self, event: dict) -> None:
        with self._changed:
            self.items.append(event)
            self._changed.notify_all()

    def wait_for(self, kind: str, count: int = 1, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.of(kind)) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"no {kind!r} event in {timeout} s: {[e['type'] for e in self.items]}"
                self._changed.wait(left)
        return self.of(kind)

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.items if e["type"] == kind]


def engine_in_process(tmp_path):
    events = Events()
    store = SessionStore(tmp_path / "data")
    engine = InProcessEngine(events, backend=None, store=store)
    engine.start()
    return engine, events, store


SETTINGS = RunSettings(max_new_tokens=64, warmup=0, system_metrics=False)


def test_concurrent_streams_are_sessions_of_one_run_each_with_its_own_tokens(tmp_path):
    engine, events, store = engine_in_process(tmp_path)
    with ServerThread(chunked_app(6, 0.01)) as server:
        engine.run_remote("hello", SETTINGS, RemoteOptions(server=server.url, concurrency=3))
        (finished,) = events.wait_for("run_finished")
    assert finished["error"] is None
    started = events.of("session_started")
    assert len(started) == 3 and {e["timing"] for e in started} == {"arrival"}
    assert len({e["run_id"] for e in started}) == 1 and {e["concurrency"] for e in started} == {3}
    ended = events.of("session_ended")
    assert sorted(e["session_id"] for e in ended) == sorted(e["session_id"] for e in started)
    assert {e["status"] for e in ended} == {"finished"} and {e["tokens"] for e in ended} == {6}
    # each session's live tokens: its own, in order, ending before its session_ended event
    for start in started:
        session_id = start["session_id"]
        position = events.items.index(next(e for e in ended if e["session_id"] == session_id))
        live = [token_from_list(v) for e in events.items[:position] if e["type"] == "tokens"
                and e["session_id"] == session_id and not e.get("replace") for v in e["records"]]
        assert [t.k for t in live] == list(range(1, 7))
        stored = store.session_tokens(session_id)
        assert [(t["k"], t["token_text"]) for t in stored] == [(t.k, t.token_text) for t in live]
    rows = read_only_query(store.path, "SELECT timing, run_id, status FROM sessions")
    assert len(rows) == 3 and set(rows) == {("arrival", started[0]["run_id"], "finished")}


def test_live_tokens_are_provisional_until_the_stored_ones_replace_them(tmp_path):
    engine, events, store = engine_in_process(tmp_path)
    with ServerThread(chunked_app(4, 0.01, per_chunk_usage=False, tokens_per_piece=3)) as server:
        engine.run_remote("hello", SETTINGS, RemoteOptions(server=server.url))
        events.wait_for("run_finished")
    (start,) = events.of("session_started")
    session_id = start["session_id"]
    provisional = [token_from_list(v) for e in events.of("tokens") if not e.get("replace") for v in e["records"]]
    (final,) = [e for e in events.of("tokens") if e.get("replace")]
    final_tokens = [token_from_list(v) for v in final["records"]]
    # while streaming the prompt's size is unknown (usage comes on the last chunk): contexts from 0
    assert [t.context_size for t in provisional] == [0, 1, 2, 3]
    # the stored tokens replace them before the session is reported ended: contexts from 3 (usage.prompt_tokens),
    # and the server's total (3 a chunk, 12) split over the chunks by text: never fewer than the server says
    assert final["session_id"] == session_id and [t.context_size for t in final_tokens] == list(range(3, 3 + 12))
    assert events.items.index(final) < events.items.index(events.of("session_ended")[0])
    stored = store.session_tokens(session_id)
    assert [(t["k"], t["context_size"]) for t in stored] == [(t.k, t.context_size) for t in final_tokens]


def test_unreachable_server_is_one_line_and_the_engine_runs_again(tmp_path):
    engine, events, store = engine_in_process(tmp_path)
    dead = f"http://127.0.0.1:{free_port()}"
    engine.run_remote("hello", SETTINGS, RemoteOptions(server=dead))
    (finished,) = events.wait_for("run_finished")
    assert "refused" in finished["error"] or "connect" in finished["error"]
    assert "\n" not in finished["error"]
    assert [s["status"] for s in store.list_sessions()] == ["failed"]
    # a malformed target is refused before any session
    engine.run_remote("hello", SETTINGS, RemoteOptions(server="ftp://example"))
    (refused,) = events.wait_for("run_refused")
    assert "http://" in refused["error"] and len(store.list_sessions()) == 1
    with ServerThread(chunked_app(2, 0.005)) as server:
        engine.run_remote("hello", SETTINGS, RemoteOptions(server=server.url))
        finished = events.wait_for("run_finished", 2)[1]
    assert finished["error"] is None
    assert sorted(s["status"] for s in store.list_sessions()) == ["failed", "finished"]


def test_stop_saves_every_stream_in_flight_as_interrupted(tmp_path):
    engine, events, store = engine_in_process(tmp_path)
    with ServerThread(chunked_app(2000, 0.01)) as server:
        engine.run_remote("hello", RunSettings(max_new_tokens=2000, warmup=0, system_metrics=False),
                          RemoteOptions(server=server.url, concurrency=2))
        events.wait_for("tokens", 2)
        engine.stop()
        events.wait_for("run_finished")
    sessions = store.list_sessions()
    assert len(sessions) == 2 and {s["status"] for s in sessions} == {"interrupted"}
    assert all(s["tokens"] > 0 for s in sessions)


def test_the_engine_process_finishes_a_server_run_after_its_client_leaves(tmp_path):
    """A dropped SSH link ends the app; the engine (its own session) goes on and stores the run."""
    data_dir = tmp_path / "data"
    events = Events()
    with ServerThread(chunked_app(40, 0.02)) as server:
        client = EngineClient(events, data_dir=data_dir)
        client.start()
        events.wait_for("hello")
        client.run_remote("hello", SETTINGS, RemoteOptions(server=server.url, concurrency=2))
        events.wait_for("tokens")
        client.detach()  # what the app does on a hang-up (policy finish)
        (exited,) = events.wait_for("exited", timeout=120)
    assert exited["expected"] and exited["code"] == 0
    rows = read_only_query(store_path(data_dir), "SELECT status, tokens, timing FROM sessions")
    assert rows == [("finished", 40, "arrival")] * 2
