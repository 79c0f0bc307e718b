"""The sessions table at 120x36 and 80x24: every figure on screen (read from the rendered cells), the
sort mark in the header, the order in which columns leave, the remote marker; and the dialogs, model
bar and settings errors that item 6 of the issue reworded.

Sessions are real: collected with the embedded model into a real store, plus one imported from a
CSV as a remote (client arrival timing) session. The app's engine runs a ScriptedBackend (passed in)
because nothing here runs a prompt.
"""

from __future__ import annotations

import csv
import json

import pytest
from rich.cells import cell_len
from textual.widgets import Input, Label

from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.collect import Collector, RunSettings
from profiler.csv_export import export_sessions
from profiler.csv_import import import_csv
from profiler.store import SessionStore
from conftest import cli_env, run_cli, table_rows
from screen_text import joined, region_lines
from tui.app import make_app
from tui.screens.dialogs import QUIT_QUESTION, ConfirmScreen, QuitRunScreen
from tui.session_view import ARRIVAL_LABEL, SESSION_COLUMNS, cell_text, display_fields
from tui.widgets.model_bar import ModelBar
from tui.widgets.sessions_table import SessionsTable

SIZES = [(120, 36), (80, 24)]
FIGURES = ["ttft_ms", "decode_p50_ms", "decode_p95_ms", "decode_p99_ms", "tokens_per_s"]
ESSENTIALS = [c for c in SESSION_COLUMNS if not c.extra]
LONG_PROMPT = "Explain, step by step and with care, why the decoding phase of a transformer is memory-bound."
REMOTE_ID = "remote-demo-session"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory, embedded_backend):
    """Two sessions collected on the embedded model, and one of them imported again as a remote one."""
    data_dir = tmp_path_factory.mktemp("sessions-table")
    store = SessionStore(data_dir)
    settings = RunSettings(max_new_tokens=12, ignore_eos=True, warmup=0, repeat=1, system_metrics=False)
    Collector(embedded_backend, store, settings).run(["Hi", LONG_PROMPT])
    exported = data_dir / "one.csv"
    export_sessions(store, [store.list_sessions()[0]["id"]], exported, force=False)
    with exported.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    remote = data_dir / "remote.csv"
    with remote.open("w", newline="", encoding="utf-8") as target:
        writer = csv.DictWriter(target, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "Prompt_ID": REMOTE_ID, "timing": "arrival"} for row in rows)
    import_csv(store, remote)
    store.close()
    return data_dir


def build_app(store_dir):
    return make_app(store=SessionStore(store_dir),
                    backend=ScriptedBackend(clock=ManualClock(), decode_ms=lambda context: 4.0 + context * 0.01))


async def settle(pilot) -> SessionsTable:
    app = pilot.app
    while app.main.controller.info is None:
        await pilot.pause(0.01)
    await app.workers.wait_for_complete()
    table = app.main.query_one(SessionsTable)
    table.focus()  # at 80x24 the panels stack: focus scrolls the table into view
    await pilot.pause()
    await pilot.pause()
    return table


def expected_sessions(store_dir) -> list[dict]:
    store = SessionStore(store_dir)
    try:
        return [display_fields(s) for s in store.list_sessions()]
    finally:
        store.close()


def column(key: str):
    return next(c for c in SESSION_COLUMNS if c.key == key)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_figure_is_on_screen_without_scrolling_sideways(store_dir, size):
    sessions = expected_sessions(store_dir)
    app = build_app(store_dir)
    async with app.run_test(size=size) as pilot:
        table = await settle(pilot)
        lines = region_lines(app, table)
        header = lines[1]
        # THEN TTFT, p50, p95, p99 and tok/s are drawn, whole, on each session's row
        for session in sessions:
            row = next(line for line in lines if session["short_id"] in line)
            for key in FIGURES:
                assert f" {cell_text(column(key), session)} " in row, (key, row)
        for title in ("TTFT ms", "p50 ms", "p95 ms", "p99 ms", "tok/s"):
            assert title in header
        # AND nothing is off to the right
        assert table.max_scroll_x == 0
        assert max(len(line.rstrip()) for line in lines) <= size[0]
        if size == (120, 36):
            # every essential column is there at 120 columns, the prompt shortened with an ellipsis
            for essential in ESSENTIALS:
                if not essential.optional:
                    assert essential.key in table.shown_keys, essential.title
            assert "status" in header and "model" in header and "prompt" in header and "tokens" in header
            long_row = next(line for line in lines if any(s["short_id"] in line and s["prompt_excerpt"] == LONG_PROMPT
                                                          for s in sessions))
            assert "Explain, step" in long_row and "…" in long_row
            # the remote session is marked, the legend on the border (model and prompt took the room)
            assert " * " in next(line for line in lines if REMOTE_ID[:8] in line)
            assert f"* {ARRIVAL_LABEL}" in lines[-1]


async def test_columns_leave_least_important_first_at_80x24(store_dir):
    app = build_app(store_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await settle(pilot)
        shown = [c for c in ESSENTIALS if c.key in table.shown_keys]
        dropped = [c for c in ESSENTIALS if c.key not in table.shown_keys and c.key in
                   {k for s in expected_sessions(store_dir) for k in s if cell_text(c, s)}]
        # GIVEN 80 columns, THEN some essentials are left out, and each of them ranks below every one shown
        assert dropped, "nothing was dropped at 80 columns"
        assert max(c.priority for c in shown) < min(c.priority for c in dropped)
        assert "prompt_excerpt" not in table.shown_keys
        header = region_lines(app, table)[1]
        assert "prompt" not in header
        # the remote marker: one character, with its legend on the table's border
        lines = region_lines(app, table)
        remote_row = next(line for line in lines if REMOTE_ID[:8] in line)
        assert " * " in remote_row
        assert f"* {ARRIVAL_LABEL}" in lines[-1]
        # WHEN the terminal widens, THEN the table refits: the prompt comes back
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        await pilot.pause()
        assert "prompt_excerpt" in table.shown_keys


def drawn_p99(lines: list[str], sessions: list[dict]) -> list[float]:
    """The p99 of each drawn row, top to bottom, looked up by the id on the row."""
    by_id = {s["short_id"]: s["decode_p99_ms"] for s in sessions}
    return [by_id[short] for line in lines[2:] for short in by_id if short in line]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_sort_column_is_marked_in_the_header_and_rows_follow_it(store_dir, size):
    app = build_app(store_dir)
    async with app.run_test(size=size) as pilot:
        table = await settle(pilot)
        # WHEN p99 is chosen by clicking its header... (the header event, as a click sends it)
        table.sort_by("decode_p99_ms", descending=True)
        await pilot.pause()
        lines = region_lines(app, table)
        assert "p99 ms ▼" in lines[1]
        sessions = expected_sessions(store_dir)
        drawn = drawn_p99(lines, sessions)
        assert len(drawn) == len(sessions) and drawn == sorted(drawn, reverse=True) and drawn[0] > drawn[-1]
        # WHEN S reverses it, THEN the arrow turns and the rows with it
        await pilot.press("S")
        await pilot.pause()
        lines = region_lines(app, table)
        assert "p99 ms ▲" in lines[1] and "▼" not in lines[1]
        assert drawn_p99(lines, sessions) == sorted(drawn)
        # WHEN s steps to the next column, THEN the arrow moves with it
        await pilot.press("s")
        await pilot.pause()
        header = region_lines(app, table)[1]
        assert header.count("▼") + header.count("▲") == 1 and "p99 ms ▼" not in header


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_dialogs_show_their_whole_text_wrapped_with_the_right_plural(store_dir, size):
    app = build_app(store_dir)
    async with app.run_test(size=size) as pilot:
        table = await settle(pilot)
        # one session: "its tokens"
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        label = app.screen.query_one(Label)
        text = joined(region_lines(app, label))
        assert text == f"Delete session {table.highlighted_id[:8]} and all its tokens? This can't be undone."
        assert len(region_lines(app, label)) > 1  # wrapped, not cut
        await pilot.press("n")
        await pilot.pause()
        # two sessions: "their tokens"
        await pilot.press("space", "down", "space", "delete")
        await pilot.pause()
        text = joined(region_lines(app, app.screen.query_one(Label)))
        assert text.startswith("Delete 2 sessions (") and text.endswith("and all their tokens? This can't be undone.")
        await pilot.press("n")
        await pilot.pause()
        # the quit question, whole
        app.push_screen(QuitRunScreen())
        await pilot.pause()
        assert joined(region_lines(app, app.screen.query_one(Label))) == " ".join(QUIT_QUESTION.split())
        await pilot.press("escape")


async def test_model_bar_fields_are_apart_and_settings_errors_name_no_flag(store_dir):
    app = build_app(store_dir)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        bar = region_lines(app, app.main.query_one(ModelBar))[0]
        assert "[scripted delays] dtype float32 · quant none · device cpu" in bar
        # WHEN top-p is out of range and the prompt is run
        app.main.query_one("#prompt").text = "hello"
        app.main.query_one("#top-p", Input).value = "2"
        await pilot.press("ctrl+r")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        # THEN the app names the field as its panel labels it, never the CLI flag
        assert any(m.startswith("top-p must be in (0, 1]") for m in messages), messages
        assert not any("--" in m for m in messages)
        app.main.query_one("#top-p", Input).value = "1.0"
        app.main.query_one("#warmup", Input).value = "-1"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert any(n.message.startswith("warm-up runs can't be negative") for n in app._notifications)
        # WHEN the engine refuses the run (more tokens than the context holds), THEN the same wording
        app.main.query_one("#warmup", Input).value = "0"
        app.main.query_one("#max-new-tokens", Input).value = "100000"
        await pilot.press("ctrl+r")
        for _ in range(200):
            await pilot.pause(0.05)
            if any("exceeds the model's context" in n.message for n in app._notifications):
                break
        refusal = next(n.message for n in app._notifications if "exceeds the model's context" in n.message)
        assert "+ max new tokens 100000 exceeds" in refusal and "--" not in refusal
        assert app.is_running


# -- the CLI's table: the same columns, fitted to $COLUMNS


JSON_KEYS = ["id", "status", "started", "ended", "model", "model_label", "quant", "dtype", "device", "backend",
             "gpu_name", "input_tokens", "tokens", "measured_tokens", "warmup", "repeat_index", "ttft_ms",
             "decode_p50_ms", "decode_p95_ms", "decode_p99_ms", "decode_mean_ms", "tokens_per_s",
             "bandwidth_fraction", "prompt", "error"]
"""`sessions --json`'s items, as before the table was reshaped (scripts read them)."""
JSON_KEYS_V3 = ["timing", "source", "run_id", "batch_size", "batch_index", "eos_k", "sweep_id", "cell", "config"]
"""Added after them, in this order, with schema v3: how a session was timed and what it belongs to."""


@pytest.mark.slow
@pytest.mark.parametrize("width", [80, 120])
def test_cli_sessions_fits_the_terminal_and_never_cuts_a_figure(store_dir, width):
    listed = json.loads(run_cli("sessions", "--json", env=cli_env(store_dir)).stdout)
    result = run_cli("sessions", env=cli_env(store_dir, COLUMNS=str(width)))
    assert result.returncode == 0, result.stderr
    assert max(cell_len(line.rstrip()) for line in result.stdout.splitlines()) <= width
    rows = table_rows(result.stdout)
    assert len(rows) == len(listed) == 3
    for session in listed:
        row = rows[session["id"][:8]]
        for key in FIGURES:
            assert row[column(key).title] == format(session[key], column(key).fmt), (key, row)
    titles = set(next(iter(rows.values())))
    assert ("prompt" in titles) == (width == 120) and ("model" in titles) == (width == 120)
    # the remote session: its marker, and the legend under the table
    assert rows[REMOTE_ID[:8]][""] == "*"
    assert f"* {ARRIVAL_LABEL}" in result.stdout


@pytest.mark.slow
def test_cli_sessions_wide_ids_and_json(store_dir):
    listed = json.loads(run_cli("sessions", "--json", env=cli_env(store_dir)).stdout)
    assert [list(item) for item in listed] == [JSON_KEYS + JSON_KEYS_V3] * len(listed)
    assert {item["timing"] for item in listed} == {"device", "arrival"}  # the store holds one remote session
    wide = run_cli("sessions", "--wide", env=cli_env(store_dir, COLUMNS="80"))
    titles = set(next(iter(table_rows(wide.stdout).values())))
    # every column; the warm-up marker's only while some session is a warm-up (none is here)
    assert {c.title for c in SESSION_COLUMNS if c.key != "warmup_display"} <= titles and "warm-up" not in titles
    assert max(len(line) for line in wide.stdout.splitlines()) > 80  # every column, however wide
    ids = run_cli("sessions", "--ids", env=cli_env(store_dir))
    assert ids.stdout.split() == [s["id"] for s in listed]
