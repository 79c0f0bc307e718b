"""`c` with sessions marked: which run was faster, by how much, and how sure we can be.

The verdict first (the answer), then the side-by-side table with each change against the baseline
and its interval, then the sessions' decode latencies overlaid. The figures, the table and the
verdict are `tui/compare_view.py`'s, the same as `tokenlat-tui compare` prints. One column that
scrolls vertically: readable at 80x24, never sideways.

The bootstrap (2000 resamples) takes a moment on long sessions, so it runs in a worker thread.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from model.warmups import left_out_line, without_warmups
from profiler.errors import ProfilerError, first_line
from profiler.printable import printable_line
from tui.compare_view import (LoadedComparison, comparison_tables, different_models_line, load_comparison,
                              models_of, notes, side_label, sides_of_marked)
from tui.screens.dialogs import ConfirmScreen
from tui.widgets.compare_chart import CompareChart, Series


HOW_TO_MARK = "mark two or more sessions with space in the sessions table, then press c"


def open_compare(screen, table) -> None:
    """`c` on the main screen: compare the marked sessions, the earliest started as the baseline
    (sessions of one configuration are one side when several configurations are marked).

    Fewer than two marked: a notification says how. Different models: asked first (as `--any`
    is asked for on the command line), since their latencies measure different things."""
    marked, warmups = without_warmups(table.sessions[sid] for sid in table.marked if sid in table.sessions)
    left_out = left_out_line(warmups, flag=None)  # warm-ups pay first-run costs: never compared silently
    if len(marked) < 2:
        screen.notify(HOW_TO_MARK + (f" ({left_out})" if left_out else ""), title="compare", severity="warning")
        return
    if left_out:
        screen.notify(left_out, title="compare", timeout=6)
    groups = sides_of_marked(marked)
    models = models_of([table.sessions[sid] for group in groups for sid in group])  # the baseline's first
    if len(models) == 1:
        screen.app.push_screen(CompareScreen(groups))
        return
    question = (f"The marked {different_models_line(models)}: their latencies measure different things. "
                "Compare them anyway?")

    def answered(yes: bool) -> None:
        if yes:
            screen.app.push_screen(CompareScreen(groups, allow_models=True))
        else:
            screen.notify(f"not compared: {different_models_line(models)}", title="compare", severity="warning")

    screen.app.push_screen(ConfirmScreen(question), answered)


class CompareScreen(Screen[None]):
    DEFAULT_CSS = """
    CompareScreen #compare-title { height: 1; background: $panel; padding: 0 1; }
    CompareScreen #compare-body { height: 1fr; padding: 0 1; }
    CompareScreen #compare-verdict { height: auto; margin-bottom: 1; }
    CompareScreen #compare-table { height: auto; }
    CompareScreen #compare-notes { height: auto; color: $text-muted; margin-bottom: 1; }
    CompareScreen #compare-chart { height: 16; }
    """
    BINDINGS = [Binding("escape", "close", "Close", priority=True, id="compare.close")]

    def __init__(self, groups: list[list[str]], *, allow_models: bool = False) -> None:
        super().__init__()
        self.groups = [list(group) for group in groups]
        """The sides compared, the baseline first: one session each, or a configuration's repeats."""
        self.allow_models = allow_models
        """The user confirmed comparing sessions of different models (the CLI's --any)."""
        self.loaded: LoadedComparison | None = None
        """The comparison on screen (tests read its figures); None while it is computed."""

    def compose(self) -> ComposeResult:
        count = sum(len(group) for group in self.groups)
        sides = "" if count == len(self.groups) else f" as {len(self.groups)} configurations"
        yield Static(Text(f"compare {count} sessions{sides} · baseline {side_label(self.groups[0])} · escape closes"),
                     id="compare-title")
        with VerticalScroll(id="compare-body"):
            yield Static(Text(f"comparing {count} sessions…"), id="compare-verdict")
            yield Static(id="compare-table")
            yield Static(id="compare-notes")
            yield CompareChart(id="compare-chart")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#compare-body").focus()  # arrow keys and page keys scroll at once
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def _load(self) -> None:
        try:
            loaded = load_comparison(self.app.store, self.groups, allow_models=self.allow_models)
        except ProfilerError as exc:
            self.app.call_from_thread(self._show_error, str(exc))
            return
        self.app.call_from_thread(self._show, loaded)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        # an unexpected failure (a damaged store) is a line on this screen, never a crash
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self._show_error(first_line(error, None))

    def _show_error(self, error: str) -> None:
        self.query_one("#compare-verdict", Static).update(Text(f"can't compare: {printable_line(error)}", style="bold red"))
        self.notify(error, title="can't compare", severity="error")

    def _show(self, loaded: LoadedComparison) -> None:
        self.loaded = loaded
        verdicts = Text("\n".join(loaded.verdicts), style="bold")
        self.query_one("#compare-verdict", Static).update(verdicts)
        self._show_tables()
        self.query_one("#compare-notes", Static).update(Text("\n".join(notes(loaded))))
        series = []
        for side in loaded.sides:
            decode = [t for sid in side.session_ids for t in loaded.tokens[sid] if t["phase"] == "decode"]
            series.append(Series(side.label, [t["context_size"] for t in decode], [t["latency_ms"] for t in decode]))
        self.query_one(CompareChart).show(series)

    def _show_tables(self) -> None:
        # the body's width less its padding and scrollbar: one table when all sides fit, else one per side
        width = max(40, self.query_one("#compare-body").size.width - 4)
        self.query_one("#compare-table", Static).update(Group(*comparison_tables(self.loaded, width)))

    def on_resize(self) -> None:
        if self.loaded is not None:
            self._show_tables()

    def action_close(self) -> None:
        self.dismiss(None)
