"""Pilot test helpers: waiting for an app's background work, a scripted backend, selecting a session."""

from __future__ import annotations

from textual.worker import WorkerCancelled

from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock


async def wait_workers(pilot) -> None:
    """Every worker done; a fit replaced by a newer one (fits are exclusive workers) counts as done,
    where `workers.wait_for_complete()` alone would raise WorkerCancelled for it."""
    for _ in range(10):
        try:
            await pilot.app.workers.wait_for_complete()
            break
        except WorkerCancelled:
            await pilot.pause()
    await pilot.pause()


def scripted(**kwargs) -> ScriptedBackend:
    """A scripted backend on a manual clock whose decode slows with context (4 ms + 0.01 ms a token)."""
    return ScriptedBackend(clock=ManualClock(), decode_ms=lambda context: 4.0 + context * 0.01, **kwargs)


async def select_first_session(app, pilot):
    """Once the app is ready, focus the sessions table and select its first row; returns the table."""
    from tui.widgets.sessions_table import SessionsTable

    while app.main.controller.info is None:
        await pilot.pause()
    table = app.main.query_one(SessionsTable)
    table.focus()
    await pilot.press("down", "up")
    await pilot.pause()
    return table
