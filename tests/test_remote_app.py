"""The app driving a server: the connection form (ctrl+o), a run through the engine, the live panel.

Servers are real processes or real sockets: a scripted OpenAI-style server (tests/remote_servers.py)
for the form's rules and concurrency, and a real `transformers serve` on the embedded model for
the whole path. The engine is the same `Engine` the process runs, in this process (InProcessEngine),
with the local model passed in; `test_remote_engine.py` covers the engine process itself.
"""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Checkbox, Input, TextArea
from textual.worker import WorkerCancelled

from conftest import read_only_query
from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.remote.options import RemoteOptions
from profiler.store import SessionStore
from remote_servers import ServerThread, free_port
from test_remote_engine import chunked_app
from tui.app import make_app
from tui.screens.connection import ConnectionScreen
from tui.session_view import ARRIVAL_LABEL
from tui.widgets.model_bar import ModelBar

pytestmark = pytest.mark.slow
SIZE = (120, 36)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def scripted() -> ScriptedBackend:
    return ScriptedBackend(clock=ManualClock(), decode_ms=lambda context: 4.0)


async def connect(app, pilot, **fields: str) -> None:
    """Open the form with its key, type each field (replacing what is there), apply with enter."""
    await pilot.press("ctrl+o")
    await pilot.pause()
    assert isinstance(app.screen, ConnectionScreen)
    for name, value in fields.items():
        box = app.screen.query_one(f"#{name}", Input)
        box.focus()
        box.value = ""
        await pilot.press(*value)
    await pilot.press("enter")
    await pilot.pause()


async def type_prompt(app, pilot, prompt: str, max_new_tokens: int) -> None:
    editor = app.main.query_one("#prompt", TextArea)
    editor.text = ""
    editor.focus()
    await pilot.press(*prompt)
    app.main.query_one("#max-new-tokens", Input).value = str(max_new_tokens)
    app.main.query_one("#warmup", Input).value = "0"


async def run_and_wait(app, pilot, limit_s: float = 120) -> list[str]:
    """Run the prompt (ctrl+r's action), then wait for the run to end; the live panel's titles meanwhile.

    The action is called rather than the key pressed: `pilot.press` waits for the app to be idle,
    which it isn't until the run ends, and the titles during the run are the point."""
    titles = []
    app.main.action_run_prompt()
    for _ in range(int(limit_s / 0.05)):
        await asyncio.sleep(0.05)
        titles.append(str(app.main.query_one("#latency-title").render()))
        if not app.main.running:
            break
    assert not app.main.running, "the run did not end"
    for _ in range(5):  # fits (exclusive workers) cancel each other as sessions end: wait for the last
        try:
            await app.workers.wait_for_complete()
            break
        except WorkerCancelled:
            continue
    await pilot.pause()
    return titles


def messages(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def test_form_sends_runs_to_a_server_with_concurrent_streams_and_remembers_it(tmp_path):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=scripted())
    with ServerThread(chunked_app(40, 0.01)) as server:
        async with app.run_test(size=SIZE) as pilot:
            # GIVEN the app on its local model, WHEN the form points it at a server with 2 streams
            await connect(app, pilot, server=server.url, concurrency="2")
            assert not isinstance(app.screen, ConnectionScreen)
            assert any("runs go to " + server.url in m for m in messages(app))
            assert ARRIVAL_LABEL in str(app.main.query_one(ModelBar).render())
            await type_prompt(app, pilot, "hi", 64)
            titles = await run_and_wait(app, pilot)
            # THEN two arrival-timed sessions of one run, each with every token, and the live title said so
            rows = read_only_query(store.path, "SELECT status, tokens, timing, run_id FROM sessions")
            assert len(rows) == 2 and {r[:3] for r in rows} == {("finished", 40, "arrival")}
            assert len({r[3] for r in rows}) == 1
            assert any(ARRIVAL_LABEL in t and "of 2 streams in flight" in t for t in titles), titles[-5:]
            assert ARRIVAL_LABEL in str(app.main.query_one("#latency-title").render())
            # AND the form opens with what was applied (remembered for the app session)
            await pilot.press("ctrl+o")
            await pilot.pause()
            assert app.screen.query_one("#server", Input).value == server.url
            assert app.screen.query_one("#concurrency", Input).value == "2"
            await pilot.press("escape")
            # AND an empty URL goes back to the local model: a run is device-timed again
            await connect(app, pilot, server="")
            await run_and_wait(app, pilot)
            assert read_only_query(store.path, "SELECT timing FROM sessions ORDER BY started DESC LIMIT 1") == \
                [("device",)]


async def test_bad_server_input_is_one_notification_and_the_app_goes_on(tmp_path):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        # a malformed URL: refused by the form, which stays open
        await connect(app, pilot, server="ftp://example.org")
        assert isinstance(app.screen, ConnectionScreen)
        assert any(m.startswith("connection not changed: server must be an http") for m in messages(app))
        # a bad number and a missing key variable: each one line naming the field
        app.screen.query_one("#server", Input).value = "http://127.0.0.1:9"
        for field, value, said in (("concurrency", "many", "concurrency: 'many' is not a whole number"),
                                   ("api_key_env", "TOKENLAT_NO_SUCH_KEY", "api key env TOKENLAT_NO_SUCH_KEY")):
            box = app.screen.query_one(f"#{field}", Input)
            keep, box.value = box.value, value
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, ConnectionScreen) and any(said in m for m in messages(app))
            box.value = keep
        await pilot.press("escape")
        assert app.main.controller.remote is None  # nothing applied
        # a well-formed URL nobody listens on: applied; the run fails with one line, and the app runs on
        dead = f"http://127.0.0.1:{free_port()}"
        await connect(app, pilot, server=dead)
        await type_prompt(app, pilot, "hi", 8)
        await run_and_wait(app, pilot)
        errors = [n for n in app._notifications if n.severity == "error" and n.title == "run stopped"]
        assert errors and "\n" not in errors[-1].message and "127.0.0.1" in errors[-1].message
        assert [s["status"] for s in store.list_sessions()] == ["failed"]
        assert app.is_running and isinstance(app.screen, type(app.main))


async def test_started_with_a_server_it_loads_no_model_and_runs_on_the_server(tmp_path):
    """`tokenlat-tui --server URL ...`: the flags fill the form; no local model is loaded."""
    store = SessionStore(tmp_path / "data")
    with ServerThread(chunked_app(5, 0.005)) as server:
        app = make_app(store=store, backend=scripted(), backend_options=RemoteOptions(server=server.url, concurrency=3))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            bar = str(app.main.query_one(ModelBar).render())
            assert server.url in bar and ARRIVAL_LABEL in bar and "loading" not in bar
            assert app.main.controller.local_info is None and not app.main.controller.loading
            await type_prompt(app, pilot, "hi", 8)
            await run_and_wait(app, pilot)
            assert [(s["status"], s["tokens"]) for s in store.list_sessions()] == [("finished", 5)] * 3
            await pilot.press("ctrl+o")
            await pilot.pause()
            assert app.screen.query_one("#server", Input).value == server.url
            assert app.screen.query_one("#concurrency", Input).value == "3"


async def test_a_real_server_run_from_the_app_is_stored_with_arrival_timing(tmp_path, embedded_backend, served,
                                                                           model_folder):
    folder = model_folder
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=embedded_backend)
    async with app.run_test(size=SIZE) as pilot:
        await connect(app, pilot, server=served.url, tokenizer=str(folder))
        await type_prompt(app, pilot, "Hello there", 12)
        # quirk: ignore_eos (on by default for local runs) isn't an OpenAI field, and this server says 422
        app.main.query_one("#ignore-eos", Checkbox).value = True
        await run_and_wait(app, pilot, limit_s=240)
        assert any(m.startswith("run stopped: server rejected parameter 'ignore_eos' (422") for m in messages(app))
        app.main.query_one("#ignore-eos", Checkbox).value = False
        titles = await run_and_wait(app, pilot, limit_s=240)
        failed, session = sorted(store.list_sessions(), key=lambda s: s["started"])
        assert failed["status"] == "failed" and session["status"] == "finished", messages(app)
        (timing, run_id) = read_only_query(store.path, "SELECT timing, run_id FROM sessions WHERE id=?",
                                           (session["id"],))[0]
        assert timing == "arrival" and run_id
        tokens = store.session_tokens(session["id"])
        source, server_tokens = read_only_query(
            store.path, "SELECT token_source, server_tokens FROM remote_sessions WHERE session_id=?",
            (session["id"],))[0]
        # counted by the local tokenizer on the joined text and fitted to the server's total
        assert len(tokens) == server_tokens == 12 and source.startswith("tokenizer")
        assert [t["k"] for t in tokens] == list(range(1, 13))
        assert any(t.startswith("running ") and ARRIVAL_LABEL in t for t in titles)
        # the panel ends on the stored tokens (not the provisional one-per-chunk ones)
        assert app.main.controller.live.records[-1].k == 12


async def test_the_form_drops_url_credentials_with_a_warning_and_has_the_tokenizer_opt_out(tmp_path):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        # GIVEN the form, WHEN the user ticks the tokenizer opt-out and applies a URL holding a password
        await pilot.press("ctrl+o")
        await pilot.pause()
        box = app.screen.query_one("#no_tokenizer", Checkbox)
        assert box.value is False  # the server model's own tokenizer is used by default
        box.value = True
        await pilot.pause()
        await connect(app, pilot, server="http://admin:s3cret-pw@127.0.0.1:9")
        # THEN one warning says the credentials were dropped, and nothing shown or remembered holds them
        assert any(m.startswith("credentials dropped:") for m in messages(app)), messages(app)
        assert not any("s3cret-pw" in m for m in messages(app))
        assert app.main.controller.connection.server == "http://127.0.0.1:9"
        assert app.main.controller.connection.no_tokenizer is True
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.screen.query_one("#server", Input).value == "http://127.0.0.1:9"
        assert app.screen.query_one("#no_tokenizer", Checkbox).value is True
