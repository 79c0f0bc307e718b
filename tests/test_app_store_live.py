"""The app's sessions table follows the store: what another connection writes shows with no key pressed.

The other writer here is a second `SessionStore` on the same file (its own SQLite connection, as any
other process has); tests/test_sessions_table_tmux.py does the same with real `collect` processes.
"""

from __future__ import annotations

import pytest

from pilot_waits import scripted
from profiler.records import SessionMeta, TokenRecord
from profiler.store import SessionStore
from tests.seeded_sessions import Spec, seed_sessions
from tui.app import make_app
from tui.screens.main import SESSIONS_PAGE, STORE_POLL_HZ
from tui.widgets.sessions_table import SessionsTable

SIZE = (120, 36)
WAIT_TICKS = 10 * STORE_POLL_HZ  # ten seconds of polls at most: a loaded box, not a budget being asserted


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def _meta() -> SessionMeta:
    return SessionMeta(prompt="from elsewhere", input_tokens=3, model="scripted", model_label="scripted delays",
                       dtype="float32", device="cpu", backend="scripted")


def _token(k: int) -> TokenRecord:
    return TokenRecord(k=k, context_size=3 + k - 1, latency_ms=7.5 if k == 1 else 5.0 + k * 0.01,
                       phase="prefill" if k == 1 else "decode", token_id=97, token_text="a",
                       wall_time=1_700_000_000.0 + k)


async def _until(pilot, predicate, what: str) -> None:
    for _ in range(WAIT_TICKS * 4):
        if predicate():
            return
        await pilot.pause(1 / (4 * STORE_POLL_HZ))
    raise AssertionError(f"the table never showed {what}")


def _row_text(table: SessionsTable, session_id: str) -> str:
    return " ".join(str(cell) for cell in table.get_row(session_id))


async def test_a_session_written_elsewhere_appears_counts_its_tokens_ends_and_goes(tmp_path):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        table = app.main.query_one(SessionsTable)
        assert table.row_count == 0
        other = SessionStore(tmp_path / "data")  # a connection of its own, as another process has
        writer = other.begin_session(_meta())
        session_id = writer.session_id
        await _until(pilot, lambda: session_id in table.sessions, "the new session")
        for k in range(1, 6):
            writer.add_token(_token(k))
        writer.flush()
        # the running row counts its tokens so far and shows figures, not `0 – – –`
        await _until(pilot, lambda: table.sessions[session_id]["tokens"] == 5, "5 tokens")
        assert table.sessions[session_id]["status"] == "running"
        assert table.sessions[session_id]["ttft_ms"] == pytest.approx(7.5)
        assert " 5 " in f" {_row_text(table, session_id)} "
        for k in range(6, 21):
            writer.add_token(_token(k))
        writer.flush()
        await _until(pilot, lambda: table.sessions[session_id]["tokens"] == 20, "20 tokens")
        assert " 20 " in f" {_row_text(table, session_id)} "
        writer.finish()
        await _until(pilot, lambda: table.sessions[session_id]["status"] == "finished", "the session finished")
        other.delete_sessions([session_id])
        await _until(pilot, lambda: session_id not in table.sessions, "the session gone")
        assert table.row_count == 0


async def test_r_reads_the_store_again_and_a_large_store_lists_its_newest_page(tmp_path):
    store = seed_sessions(SessionStore(tmp_path / "data"),
                          [Spec(f"{i:032x}", f"prompt {i}", tokens=4, day=1 + i % 28)
                           for i in range(SESSIONS_PAGE + 3)])
    app = make_app(store=store, backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        table = app.main.query_one(SessionsTable)
        assert table.row_count == SESSIONS_PAGE
        assert table.total == SESSIONS_PAGE + 3
        assert f"newest {SESSIONS_PAGE} of {SESSIONS_PAGE + 3}" in str(table.border_subtitle)
        table.focus()
        await pilot.press("r")
        await pilot.pause()
        assert table.row_count == SESSIONS_PAGE
        assert "re-read the store" in " ".join(str(n.message) for n in app._notifications)


WRITER = """
import sys, time
from profiler.records import SessionMeta
from profiler.store import SessionStore
meta = SessionMeta(prompt="elsewhere", input_tokens=3, model="scripted", model_label="scripted delays",
                   dtype="float32", device="cpu", backend="scripted")
writer = SessionStore(sys.argv[1]).begin_session(meta)
print(writer.session_id, flush=True)
time.sleep(120)
"""


@pytest.mark.slow  # a writer process of its own
async def test_opening_the_app_while_another_process_measures_says_so(tmp_path):
    import subprocess
    import sys

    from conftest import cli_env

    data_dir = tmp_path / "data"
    other = subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir)], env=cli_env(data_dir),
                             stdout=subprocess.PIPE, text=True)
    try:
        session_id = other.stdout.readline().strip()
        assert session_id
        app = make_app(store=SessionStore(data_dir), backend=scripted())
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            warned = [n for n in app._notifications if n.title == "another run is being measured"]
            assert len(warned) == 1
            assert f"pid {other.pid} is measuring session {session_id[:8]}" in warned[0].message
            assert "ctrl+l cancels the load" in warned[0].message
    finally:
        other.kill()
        other.wait()


async def test_no_warning_when_nothing_else_measures(tmp_path):
    app = make_app(store=SessionStore(tmp_path / "data"), backend=scripted())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not [n for n in app._notifications if n.title == "another run is being measured"]


@pytest.mark.slow  # an engine process of its own
async def test_ctrl_l_while_the_model_loads_cancels_the_load(tmp_path):
    from profiler.backends import BackendOptions

    app = make_app(store=SessionStore(tmp_path / "data"), backend_options=BackendOptions())
    async with app.run_test(size=SIZE) as pilot:
        controller = app.main.controller
        engine = controller.engine
        assert controller.loading
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert not controller.loading and engine.process.wait(30) is not None  # the engine is gone
