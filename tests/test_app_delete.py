"""The app's delete keeps running when the store refuses (a session another process is still writing)."""

from __future__ import annotations

from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.records import SessionMeta
from profiler.store import SessionStore
from tui.app import make_app
from tui.screens.dialogs import ConfirmScreen
from tui.widgets.sessions_table import SessionsTable


async def test_deleting_a_session_still_written_elsewhere_notifies_and_keeps_it(tmp_path):
    store = SessionStore(tmp_path / "data")
    # a live writer in this process: to the store, the session is owned by a process that is alive
    writer = store.begin_session(SessionMeta(prompt="still going", input_tokens=3, model="m"))
    app = make_app(store=store, backend=ScriptedBackend(clock=ManualClock(), decode_ms=lambda context: 4.0))
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            table = app.main.query_one(SessionsTable)
            table.focus()
            table.highlight(writer.session_id)
            await pilot.pause()
            await pilot.press("delete")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await pilot.pause()
            assert app.is_running
            assert any(n.title == "nothing deleted" and "running" in n.message for n in app._notifications)
            assert [s["id"] for s in store.list_sessions()] == [writer.session_id]
    finally:
        writer.finish()
