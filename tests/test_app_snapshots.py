"""Snapshot tests of the main screen, help screen and prediction panel at 120x36 and 80x24.

Deterministic: the store is pre-seeded with fixed sessions (fixed ids, start times, latencies,
one spike), the backend is a ScriptedBackend on a ManualClock, and every background fit has
finished before the picture is taken. Update with `pytest --snapshot-update` only after looking
at the report.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.records import SessionMeta, TokenRecord
from profiler.store import SessionStore
from tui.app import make_app

SIZES = [(120, 36), (80, 24)]


def seeded_store(data_dir) -> SessionStore:
    store = SessionStore(data_dir)
    sessions = []
    for number, input_tokens in enumerate((12, 40, 96), 1):
        meta = SessionMeta(prompt=f"prompt {number}", input_tokens=input_tokens, model="scripted",
                           model_label="scripted delays", dtype="float32", device="cpu", backend="scripted")
        tokens = []
        for k in range(1, 65):
            context = input_tokens + k - 1
            latency = 20.0 + input_tokens * 0.1 if k == 1 else 4.0 + context * 0.01 + (k % 7) * 0.05
            if k == 30 + number:
                latency += 9.0  # a spike the sparkline must not smooth away
            tokens.append(TokenRecord(k=k, context_size=context, latency_ms=latency, phase="prefill" if k == 1 else "decode",
                                      token_id=97, token_text="ab "[k % 3], wall_time=1_700_000_000.0 + k))
        started = f"2026-01-0{number}T12:00:00.000000+00:00"
        sessions.append((meta, {"id": f"0000000{number}-seed-session", "started": started, "ended": started}, tokens))
    store.import_sessions(sessions)
    return store


def build_app(tmp_path):
    return make_app(store=seeded_store(tmp_path / "data"),
                    backend=ScriptedBackend(clock=ManualClock(), decode_ms=lambda context: 4.0 + context * 0.01))


async def settle(pilot) -> None:
    app = pilot.app
    # the (in-process) engine announces the model from its own thread; the refit it triggers
    # replaces any fit started before it, so wait for it before waiting on the workers
    while app.main.controller.info is None:
        await pilot.pause(0.01)
    await pilot.pause()
    for text_area in app.query(TextArea):
        text_area.cursor_blink = False
    for field in app.query(Input):
        field.cursor_blink = False
    await app.workers.wait_for_complete()
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(snap_compare, tmp_path, size):
    async def before(pilot):
        await pilot.press(*"Explain the KV cache.")
        await settle(pilot)

    assert snap_compare(build_app(tmp_path), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare, tmp_path, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(build_app(tmp_path), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_prediction_panel(snap_compare, tmp_path, size):
    async def before(pilot):
        await settle(pilot)
        pilot.app.main.query_one("#horizon", Input).focus()  # brings the panel into view at 80x24
        await pilot.pause()
        await settle(pilot)

    assert snap_compare(build_app(tmp_path), terminal_size=size, run_before=before)

