"""The breakdown in the app (issue 20): the run settings' "breakdown" box, the profiled pass the engine
runs after the timed sessions, the detail screen's table of it, and its `t` key listed where keys are.

Real parts: the app under Pilot with its in-process engine on the real embedded model (random
weights) or the scripted backend, real SQLite stores; the box is ticked with the keyboard.
"""

from __future__ import annotations

import json

import pytest
from textual.widgets import Input, TextArea

from profiler.backends import ScriptedBackend
from profiler.breakdown import CLASSES
from profiler.clock import ManualClock
from profiler.engine.core import Engine
from profiler.engine.events import EventStream
from profiler.store import SessionStore
from profiler.store.breakdowns import passes_for_sessions
from tui.app import make_app
from tui.breakdown_view import NO_PASS
from tui.screens.help import HELP, HelpScreen
from tui.screens.session_detail import SessionDetailScreen
from tui.widgets.sessions_table import SessionsTable

SIZE = (120, 36)
PROMPT = "Where does the time go?"


async def wait_loaded(app, pilot) -> None:
    while app.main.controller.info is None:  # the in-process engine announces the model from its thread
        await pilot.pause(0.01)


async def run_prompt(app, pilot, *, breakdown: bool) -> None:
    """Type the prompt and settings, tick (or leave) the breakdown box with the keyboard, run, wait for the end."""
    await wait_loaded(app, pilot)
    screen = app.main
    screen.query_one("#prompt", TextArea).focus()
    await pilot.press(*PROMPT)
    screen.query_one("#max-new-tokens", Input).value = "6"
    screen.query_one("#warmup", Input).value = "1"
    screen.query_one("#repeat", Input).value = "2"
    box = screen.query_one("#breakdown")
    assert box.value is False  # off unless asked for
    if breakdown:
        box.focus()
        await pilot.press("space")
        await pilot.pause()
        assert box.value is True and "X" in box.render().plain  # the state reads without colour
    await pilot.press("ctrl+r")
    for _ in range(1200):
        await pilot.pause(0.05)
        if not screen.running:
            break
    assert not screen.running
    await app.workers.wait_for_complete()
    await pilot.pause()


def sessions_as_run(store: SessionStore) -> list[tuple]:
    """What a run's sessions are, without their ids and times."""
    return sorted((s["warmup"], s["repeat_index"], s["tokens"], s["input_tokens"], s["prompt"], s["status"],
                   json.dumps(store.get_session(s["id"])["settings"], sort_keys=True), s["config"])
                  for s in store.list_sessions())


async def open_detail(app, pilot, session_id: str) -> SessionDetailScreen:
    table = app.main.query_one(SessionsTable)
    table.focus()
    table.highlight(session_id)
    await pilot.press("v")
    for _ in range(100):
        await pilot.pause(0.02)
        if isinstance(app.screen, SessionDetailScreen):
            break
    assert isinstance(app.screen, SessionDetailScreen)
    return app.screen


async def test_the_breakdown_box_adds_a_stored_pass_and_leaves_the_timed_sessions_as_without_it(
        tmp_path, embedded_backend):
    # GIVEN the same prompt and settings run twice on the embedded model: without, then with the box ticked
    plain = SessionStore(tmp_path / "plain")
    async with make_app(store=plain, backend=embedded_backend).run_test(size=SIZE) as pilot:
        await run_prompt(pilot.app, pilot, breakdown=False)
        # THEN the session without a pass says so on its detail screen
        detail = await open_detail(pilot.app, pilot, plain.list_sessions()[0]["id"])
        assert str(detail.query_one("#detail-breakdown").render()) == NO_PASS
    profiled = SessionStore(tmp_path / "profiled")
    async with make_app(store=profiled, backend=embedded_backend).run_test(size=SIZE) as pilot:
        app = pilot.app
        await run_prompt(app, pilot, breakdown=True)
        # THEN the timed sessions are those of the run without it (count, settings, tokens, status)
        assert sessions_as_run(profiled) == sessions_as_run(plain)
        measured = [s["id"] for s in profiled.list_sessions() if not s["warmup"]]
        warmup = [s["id"] for s in profiled.list_sessions() if s["warmup"]]
        assert len(measured) == 2 and len(warmup) == 1
        # and one profiled pass is stored apart, linked to the measured sessions only
        assert passes_for_sessions(plain, [s["id"] for s in plain.list_sessions()]) == []
        (stored,) = passes_for_sessions(profiled, measured)
        assert sorted(stored["sessions"]) == sorted(measured) and "not a timed session" in stored["label"]
        assert stored["settings"]["breakdown"] == "classes" and stored["settings"]["max_new_tokens"] == 6
        assert passes_for_sessions(profiled, warmup) == []
        # WHEN a measured session is opened THEN its detail screen shows the pass's table: every class
        # with median, p95 and share, and the profiler's cost beside the timed median
        detail = await open_detail(app, pilot, measured[0])
        box = detail.query_one("#detail-breakdown")
        lines = [strip.text for strip in box.render_lines(box.region.reset_offset)]
        text = "\n".join(lines)
        assert f"profiled pass {stored['id'][:8]}" in text
        for name in CLASSES:
            (row,) = [line for line in lines if line.startswith(f"│ {name} ")]
            cells = [cell.strip() for cell in row.rstrip().strip("│").split("│")]
            assert len(cells) == 4 and cells[3].endswith("%")
            float(cells[1]), float(cells[2])  # median and p95 in ms
        assert "timed sessions' median" in text and NO_PASS not in text
        # the warm-up was not profiled: its screen says how to get a pass
        await pilot.press("escape")
        detail = await open_detail(app, pilot, warmup[0])
        assert str(detail.query_one("#detail-breakdown").render()) == NO_PASS


async def test_the_breakdown_box_on_a_backend_without_a_model_is_refused_before_any_session(tmp_path):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=SIZE) as pilot:
        await run_prompt(app, pilot, breakdown=True)
        refused = [n for n in app._notifications if n.title == "can't run"]
        assert len(refused) == 1 and "breakdown" in refused[0].message and "--" not in refused[0].message
        assert store.list_sessions() == []


def test_the_engine_refuses_a_breakdown_of_a_server_run_or_of_an_unknown_kind_in_one_line(tmp_path):
    events: list[dict] = []
    stream = EventStream(events.append)
    engine = Engine(SessionStore(tmp_path / "data"), stream, backend=ScriptedBackend(clock=ManualClock()))
    engine.handle({"type": "run_remote", "prompt": PROMPT, "settings": {"max_new_tokens": 4}, "remote": {},
                   "breakdown": "classes"})
    engine.handle({"type": "run", "prompt": PROMPT, "settings": {}, "breakdown": "every op"})
    stream.close()  # delivers what was emitted
    assert [e["type"] for e in events] == ["run_refused", "run_refused"]
    assert "server" in events[0]["error"] and "one of classes, layers" in events[1]["error"]
    assert all("\n" not in e["error"] for e in events)
    assert not engine.running


async def test_the_detail_screens_keys_are_in_its_footer_and_in_help(tmp_path):
    from screen_text import joined, region_lines
    from seeded_sessions import Spec, seed_sessions
    from textual.widgets import Footer, Markdown

    store = seed_sessions(SessionStore(tmp_path / "data"), [Spec("0000000a-seeded", "seeded")])
    app = make_app(store=store, backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        detail = await open_detail(app, pilot, "0000000a-seeded")
        await pilot.pause()
        # the footer offers the trace key, even at 80 columns
        footer = joined(region_lines(app, detail.query_one(Footer)))
        assert "t trace file" in footer and "c x axis" in footer and "^t Estimate" in footer
        # every key the detail screen binds is explained in help (read from the bindings: a new one can't be missed)
        for binding in SessionDetailScreen.BINDINGS:
            assert all(f"`{key}`" in HELP for key in binding.key.split(",")), binding.key
        # and help, opened from the detail screen, shows the trace key's line
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = app.screen.query_one(Markdown).source
        (row,) = [line for line in shown.splitlines() if line.startswith("| `t` |")]
        assert "(session detail) write the run as a trace file" in row and "perfetto" in row


@pytest.mark.slow  # decodes 256 tokens
def test_stop_during_the_profiled_pass_ends_it_unstored_and_keeps_the_timed_session(tmp_path, embedded_backend):
    import threading

    store = SessionStore(tmp_path / "data")
    events: list[dict] = []
    profiling, finished = threading.Event(), threading.Event()

    def sink(event: dict) -> None:
        events.append(event)
        if event["type"] == "profiling":
            profiling.set()
        elif event["type"] == "run_finished":
            finished.set()

    stream = EventStream(sink)
    engine = Engine(store, stream, backend=embedded_backend)
    # GIVEN a run asking for a breakdown of a long generation (the pass would take many steps)
    engine.handle({"type": "run", "prompt": PROMPT, "breakdown": "classes",
                   "settings": {"max_new_tokens": 256, "ignore_eos": True, "warmup": 0, "repeat": 1}})
    assert profiling.wait(120)  # the timed session is stored; the pass has begun
    # WHEN the run is stopped THEN it ends between the pass's steps, no pass is stored, the session stands
    engine.handle({"type": "stop"})
    assert finished.wait(120) and engine.wait_idle(120)
    stream.close()
    (session,) = store.list_sessions()
    assert session["status"] == "finished" and session["tokens"] == 256
    assert passes_for_sessions(store, [session["id"]]) == []
    assert "breakdown_stored" not in [e["type"] for e in events]
    assert next(e for e in events if e["type"] == "run_finished")["error"] is None
