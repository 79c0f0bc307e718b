"""The app checks the machine's noise at start and flags a noisy machine in the model bar (issue 17)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pilot_waits import wait_workers
from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.store import SessionStore
from tui.app import make_app
from tui.noise_check import noise_flag
from tui.widgets.model_bar import ModelBar


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


@pytest.mark.slow
async def test_a_busy_process_is_flagged_in_the_model_bar(tmp_path):
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)
    try:
        app = make_app(store=SessionStore(tmp_path / "data"), backend=ScriptedBackend(clock=ManualClock()),
                       noise_check=True)
        async with app.run_test(size=(120, 36)) as pilot:
            for _ in range(100):  # the check samples half a second in its thread
                await wait_workers(pilot)
                if app.main.query_one(ModelBar).noise:
                    break
                await pilot.pause(0.05)
            bar = app.main.query_one(ModelBar)
            assert bar.noise and "busy processes" in bar.noise
            assert "noisy machine" in str(bar.render())
            # the flag stays when the bar changes (the model loads, fails, reloads)
            bar.show_failed("gone")
            assert "noisy machine" in str(bar.render()) and "gone" in str(bar.render())
    finally:
        busy.kill()
        busy.wait()


async def test_scripted_apps_dont_check_unless_asked(tmp_path):
    app = make_app(store=SessionStore(tmp_path / "data"), backend=ScriptedBackend(clock=ManualClock()))
    assert app.noise_check is False
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_workers(pilot)
        assert app.main.query_one(ModelBar).noise is None


def test_the_flag_names_only_noisy_findings():
    from profiler.machine_noise import Finding

    assert noise_flag([Finding("load", "x"), Finding("steal", "y")]) is None
    flag = noise_flag([Finding("load", "x", True), Finding("busy_processes", "y", True), Finding("governor", "z")])
    assert flag == "noisy machine: load, busy processes (tokenlat-tui doctor)"


async def test_the_app_starts_each_session_after_its_view_settled_and_stores_it(tmp_path):
    """The engine waits for the view's ack of the session-start redraw, then a gap; the session says so."""
    from profiler.engine.settle import settle_line
    from tui.run_controller import SETTLE

    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=(120, 36)) as pilot:
        while app.main.controller.info is None:
            await pilot.pause(0.01)
        from profiler.collect import RunSettings

        # the product waits at most 1 s for the view's ack; CI's parallel workers can keep a redraw
        # longer than that, and this test is about the ack arriving and being stored, not its speed
        app.main.controller.settle = {**SETTLE, "ack_timeout_s": 10.0}  # the most settle.py allows
        app.main.controller.run("hello", RunSettings(max_new_tokens=4, warmup=1, system_metrics=False))
        for _ in range(200):
            await pilot.pause(0.05)
            if not app.main.controller.run_active:
                break
        await wait_workers(pilot)
    sessions = store.list_sessions(with_environment=True)
    assert len(sessions) == 2  # the warm-up and the measured session both settled
    for session in sessions:
        settled = session["environment"]["app_settle"]
        assert settled["acknowledged"] is True and settled["gap_ms"] == SETTLE["gap_ms"]
        assert settled["ack_wait_ms"] >= 0 and settled["ack_timeout_s"] == 10.0
        assert "acknowledged its start" in settle_line(settled)


def test_an_engine_whose_view_never_answers_goes_on_and_says_so():
    from profiler.engine.settle import Settle, settle_line

    settle = Settle.from_dict({"ack_timeout_s": 0.05, "gap_ms": 0})
    record = settle.wait("no-view")
    assert record["acknowledged"] is False and record["ack_wait_ms"] > 0
    assert "did not acknowledge" in settle_line(record)
    early = Settle.from_dict({"ack_timeout_s": 5, "gap_ms": 0})
    early.acknowledge("s")  # the ack may come before the engine starts waiting
    assert early.wait("s")["acknowledged"] is True
    assert Settle.from_dict(None) is None and settle_line(None) is None
    with pytest.raises(ValueError):
        Settle.from_dict({"ack_timeout_s": -1})
