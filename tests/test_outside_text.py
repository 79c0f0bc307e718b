"""Issue 22: text that came from outside is never sent to the terminal as control sequences.

An imported CSV whose model, label, prompt, quant, device and token text hold an OSC title change,
a clear-screen, a colour, a C1 CSI (U+009B) and rich markup: every command that prints stored text
must write no ESC and no C1 control (control characters made visible by `profiler.printable`), and
'[bold]' must reach the screen as written, not restyle it. The app's table, detail screen and
notifications likewise. (`export` to stdout is data, not display: it writes the fields as stored.)
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, cli_env

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m\x9b1m[bold]B[/bold]\x07"
"""A terminal title change (OSC ... BEL), clear screen, a colour, a C1 CSI, and rich markup."""
FIELDS = ("model", "model_label", "prompt", "token_text", "quant", "device")


def hostile_csv(path: Path) -> Path:
    """The example CSV with HOSTILE appended to every free-text field."""
    with (REPO_ROOT / "examples" / "latency-sample.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    index = {name: i for i, name in enumerate(rows[0])}
    for row in rows[1:]:
        for field in FIELDS:
            row[index[field]] += HOSTILE
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)
    return path


def assert_no_controls(raw: bytes, what: str) -> str:
    """Raw output: valid UTF-8 (no stray 0x9b byte), no ESC, no C1 control, markup left literal."""
    assert b"\x1b" not in raw, f"{what}: raw ESC in the output"
    text = raw.decode("utf-8")  # strict: a lone 0x9b byte (an 8-bit CSI) would fail here
    assert not [c for c in text if 0x80 <= ord(c) < 0xA0], f"{what}: a C1 control in the output"
    assert not [c for c in text if ord(c) < 0x20 and c not in "\n"], f"{what}: a C0 control in the output"
    return text


def run_raw(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO_ROOT, env=cli_env(data_dir),
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def hostile_store(tmp_path) -> tuple[Path, list[str]]:
    data_dir = tmp_path / "data"
    imported = run_raw(["import", str(hostile_csv(tmp_path / "hostile.csv"))], data_dir)
    assert imported.returncode == 0, imported.stderr
    from profiler.store import SessionStore

    sessions = SessionStore(data_dir).list_sessions()
    assert sessions and all(HOSTILE in s["model"] for s in sessions)  # stored as given: only display changes
    return data_dir, [s["id"] for s in sessions]


@pytest.mark.slow
def test_every_command_that_prints_stored_text_writes_no_control_sequence(hostile_store, tmp_path):
    data_dir, ids = hostile_store
    model = tmp_path / "model.json"
    commands = [["sessions"], ["sessions", "--wide"], ["show", ids[0]], ["show", ids[0], "--spikes"],
                ["show", ids[0], "--spikes", "3"], ["fit"], ["fit", "--protocol", "seed", "--save", str(model)],
                ["compare", ids[0], ids[1], "--any"], ["compare", f"{ids[0]},{ids[1]}", ids[2], "--any"]]
    for args in commands:
        result = run_raw(args, data_dir)
        what = "tokenlat-tui " + " ".join(args)
        assert result.returncode == 0, (what, result.stderr)
        text = assert_no_controls(result.stdout, what) + assert_no_controls(result.stderr, what + " (stderr)")
        if args[0] in ("sessions", "show") and "--spikes" not in args:
            assert "\u241b" in text, what  # the hostile text is there, made visible: ESC as U+241B
        if args in (["sessions", "--wide"], ["show", ids[0]]):
            assert "\u241b]0;pwned" in text and "[bold]B[/bold]" in text, what  # whole, markup as typed


@pytest.mark.slow
def test_an_error_naming_outside_text_is_one_visible_line(hostile_store):
    data_dir, ids = hostile_store
    from profiler.store import SessionStore

    by_dtype = {s["dtype"]: s["id"] for s in SessionStore(data_dir).list_sessions()}
    assert len(by_dtype) == 2  # the example holds float32 and bfloat16 sessions
    # sessions of two configurations named together: the refusal names both (models included)
    result = run_raw(["fit", *by_dtype.values()], data_dir)
    assert result.returncode == 2
    text = assert_no_controls(result.stderr, "compare refusal")
    assert len(text.strip().splitlines()) == 1 and "\u241b" in text


async def test_the_app_shows_outside_text_with_controls_made_visible(tmp_path):
    from profiler.backends import ScriptedBackend
    from profiler.clock import ManualClock
    from profiler.store import SessionStore
    from screen_text import screen_lines
    from tui.app import make_app
    from tui.cli import main
    from tui.screens.session_detail import SessionDetailScreen

    data_dir = tmp_path / "data"
    assert main(["--data-dir", str(data_dir), "import", str(hostile_csv(tmp_path / "hostile.csv"))]) == 0
    app = make_app(store=SessionStore(data_dir), backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await pilot.pause()
        from tui.widgets.sessions_table import SessionsTable

        table = app.main.query_one(SessionsTable)
        table.focus()
        await pilot.pause()
        lines = screen_lines(app)
        assert_no_controls("\n".join(lines).encode(), "the sessions table")
        assert any("\u241b" in line for line in lines)  # the model column shows the escape, made visible
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SessionDetailScreen)
        lines = screen_lines(app)
        assert_no_controls("\n".join(lines).encode(), "the detail screen")
        assert any("[bold]B" in line for line in lines)  # markup in a model name stays literal
        # a notification carrying outside text (a server's or model's error) shows it made visible
        app.notify("the server said: " + HOSTILE, title="run failed " + HOSTILE, severity="error")
        await pilot.pause()
        lines = screen_lines(app)
        assert_no_controls("\n".join(lines).encode(), "a notification")
        assert any("the server said" in line for line in lines)
