"""The engine process on the real embedded model: event order and batching, detaching (EOF, EPIPE),
signals, cancelling a load, and a UI process that never imports torch."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO_ROOT, cli_env
from profiler.backends import BackendOptions
from profiler.collect import RunSettings
from profiler.engine.client import EngineClient
from profiler.engine.protocol import encode, settings_to_dict
from profiler.store import SessionStore

pytestmark = pytest.mark.slow
LOAD_TIMEOUT_S = 180


class Events:
    """Collects an engine's events; `until(type)` returns them up to the first of that type."""

    def __init__(self) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.seen: list[dict] = []

    def __call__(self, event: dict) -> None:
        self.queue.put(event)

    def until(self, kind: str, timeout: float = LOAD_TIMEOUT_S) -> dict:
        while True:
            event = self.queue.get(timeout=timeout)
            self.seen.append(event)
            if event["type"] == kind:
                return event
            assert event["type"] not in ("load_failed", "exited"), event


def settings(tokens: int) -> RunSettings:
    return RunSettings(max_new_tokens=tokens, ignore_eos=True, warmup=0)


def started_engine(data_dir, **kwargs) -> tuple[EngineClient, Events]:
    events = Events()
    client = EngineClient(events, data_dir=data_dir, **kwargs)
    client.start()
    client.load(BackendOptions())
    events.until("loaded")
    return client, events


def test_a_run_streams_in_order_in_batches_and_matches_the_store(tmp_path):
    data_dir = tmp_path / "data"
    client, events = started_engine(data_dir)
    try:
        client.run("in order", settings(96))
        events.until("run_finished")
    finally:
        client.detach("stop")
    assert events.until("exited", 30)["expected"] is True
    kinds = [e["type"] for e in events.seen]
    # the session's tokens come between its start and its end, never outside
    assert kinds.index("session_started") < kinds.index("tokens") < kinds.index("session_ended")
    assert max(i for i, k in enumerate(kinds) if k == "tokens") < kinds.index("session_ended")
    batches = [e for e in events.seen if e["type"] == "tokens"]
    streamed = [record for batch in batches for record in batch["records"]]
    assert len(batches) < len(streamed) == 96  # coalesced, and nothing lost
    (session,) = SessionStore(data_dir).list_sessions()
    assert session["status"] == "finished" and session["pid"] == events.seen[0]["pid"]  # the engine wrote it
    stored = SessionStore(data_dir).session_tokens(session["id"])
    assert [r[0] for r in streamed] == [t["k"] for t in stored] == list(range(1, 97))
    assert [r[2] for r in streamed] == [t["latency_ms"] for t in stored]


def test_client_gone_mid_run_finishes_the_run_despite_a_broken_pipe(tmp_path):
    """stdin EOF and EPIPE on stdout (the app's terminal hung up): the run completes, stored finished."""
    data_dir = tmp_path / "data"
    engine = subprocess.Popen([sys.executable, "-m", "profiler.engine", "--data-dir", str(data_dir)], cwd=REPO_ROOT,
                              env=cli_env(data_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def send(message: dict) -> None:
            engine.stdin.write(encode(message))
            engine.stdin.flush()

        def read_until(kind: str) -> None:
            for line in engine.stdout:
                event = json.loads(line)
                assert event["type"] not in ("load_failed", "run_refused"), event
                if event["type"] == kind:
                    return

        send({"type": "load", "options": {}})
        read_until("loaded")
        send({"type": "run", "prompt": "leave me", "settings": settings_to_dict(settings(400))})
        read_until("tokens")
        engine.stdout.close()  # the reader is gone: the engine's next write fails with EPIPE
        engine.stdin.close()  # ... and its commands end
        assert engine.wait(300) == 0
    finally:
        if engine.poll() is None:
            engine.kill()
    (session,) = SessionStore(data_dir).list_sessions()
    assert session["status"] == "finished" and session["tokens"] == 400


def test_detach_with_stop_interrupts_the_run(tmp_path):
    data_dir = tmp_path / "data"
    client, events = started_engine(data_dir)
    client.run("stop me", settings(3000))
    events.until("tokens")
    client.detach("stop")
    assert events.until("exited", 60)["code"] == 0
    (session,) = SessionStore(data_dir).list_sessions()
    assert session["status"] == "interrupted" and 0 < session["tokens"] < 3000


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_engine_stores_the_run_interrupted_and_ends_it(tmp_path, signum):
    """What an attached app's escape does (SIGINT to the session's pid), as `collect` does it."""
    data_dir = tmp_path / "data"
    client, events = started_engine(data_dir)
    client.run("signal me", settings(3000))
    events.until("tokens")
    client.process.send_signal(signum)
    event = events.until("exited", 60)
    assert event["code"] == 128 + signum and event["expected"] is False
    (session,) = SessionStore(data_dir).list_sessions()
    assert session["status"] == "interrupted" and session["error"] is None
    assert len(SessionStore(data_dir).session_tokens(session["id"])) == session["tokens"]


async def test_escape_while_loading_cancels_the_load_and_ctrl_l_loads_again(tmp_path):
    from tui.app import make_app
    from tui.widgets.model_bar import ModelBar

    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend_options=BackendOptions())
    async with app.run_test(size=(120, 36)) as pilot:
        controller = app.main.controller
        engine = controller.engine
        assert controller.loading
        await pilot.press("escape")
        await pilot.pause()
        assert not controller.loading and engine.process.wait(30) is not None  # the engine is gone
        for _ in range(100):
            await pilot.pause(0.05)
            if "cancelled" in str(app.main.query_one(ModelBar).render()):
                break
        assert "cancelled" in str(app.main.query_one(ModelBar).render())
        assert [n.title for n in app._notifications].count("model not loaded") == 1
        await pilot.press("ctrl+l")
        for _ in range(LOAD_TIMEOUT_S * 20):
            await pilot.pause(0.05)
            if controller.info is not None:
                break
        assert "random weights" in str(app.main.query_one(ModelBar).render())
        assert controller.engine is not engine


def test_the_ui_process_never_imports_torch(tmp_path):
    """The app with a real engine process loads the model and runs a prompt; torch stays out of it."""
    script = textwrap.dedent(f"""
        import asyncio, json, sys
        from profiler.backends import BackendOptions
        from profiler.store import SessionStore
        from tui.app import make_app

        async def main():
            store = SessionStore({str(tmp_path / 'data')!r})
            app = make_app(store=store, backend_options=BackendOptions())
            async with app.run_test(size=(120, 36)) as pilot:
                controller = app.main.controller
                while controller.info is None:
                    await pilot.pause(0.05)
                app.main.query_one("#max-new-tokens").value = "8"
                app.main.query_one("#warmup").value = "0"
                app.main.query_one("#prompt").text = "no torch here"
                await pilot.press("ctrl+r")
                await pilot.pause(0.2)
                while controller.run_active:
                    await pilot.pause(0.05)
            statuses = [s["status"] for s in store.list_sessions()]
            print(json.dumps({{"torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules,
                              "statuses": statuses}}))

        asyncio.run(main())
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=cli_env(tmp_path / "data"),
                            capture_output=True, text=True, timeout=LOAD_TIMEOUT_S + 60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"torch": False, "transformers": False, "statuses": ["finished"]}
