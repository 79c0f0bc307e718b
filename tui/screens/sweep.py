"""w: the sweeps in the store — pick one to read its per-cell table, its scaling analysis and its
latency and throughput against batch size (one line per length x precision or configuration).

A sweep runs as the CLI's `tokenlat-tui sweep` — from a shell, or started here with `n` (in a process
of its own: sweep_start.py) — and this screen reads what it stored, through the same `sweep_results`
the CLI's report uses, so the two never disagree. `r` re-reads the store; while a sweep started here
runs, the screen re-reads it every RELOAD_S seconds.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static
from textual_plotext import PlotextPlot

from profiler.errors import ProfilerError
from profiler.printable import printable, printable_line
from profiler.sweep.grid import describe_grid
from tui.screens.sweep_start import SweepFlagsScreen, SweepProcess
from tui.widgets.compare_chart import STYLES

RELOAD_S = 2.0
# units in the titles: per-token percentiles and TTFT are milliseconds, tok/s the cell's aggregate
CELL_COLUMNS = ("line", "batch", "status", "p50 ms", "p95 ms", "p99 ms", "TTFT ms", "tok/s", "peak MB", "of floor",
                "bound")


def _f(value, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


class SweepScreen(ModalScreen[None]):
    """The sweeps on top, the chosen sweep's cells in the middle, its two charts and analysis below."""

    # a modal of its own (STYLE.md: DEFAULT_CSS for modals): it lays out only its own widgets
    DEFAULT_CSS = """
    SweepScreen { align: center middle; }
    #sweep-box { width: 96%; height: 94%; border: round $accent; background: $surface; }
    #sweep-list { height: auto; max-height: 6; }
    #sweep-cells { height: 1fr; min-height: 6; }
    #sweep-charts { height: 13; }
    #sweep-charts PlotextPlot { width: 1fr; }
    #sweep-words { height: auto; max-height: 6; color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "dismiss", "Close", id="sweep.close"),
                Binding("r", "reload", "Reload", id="sweep.reload"),
                Binding("n", "new_sweep", "New sweep", id="sweep.new")]

    def __init__(self) -> None:
        super().__init__()
        self.sweep_ids: list[str] = []
        self.shown_sweep: str | None = None
        """The sweep whose cells are on screen (tests read it)."""
        self.results: list = []
        """Its CellResults, in table order."""
        self.launched: SweepProcess | None = None
        """The sweep started from this screen, while it runs."""

    def compose(self) -> ComposeResult:
        with Vertical(id="sweep-box"):
            yield DataTable(id="sweep-list", cursor_type="row")
            yield DataTable(id="sweep-cells", cursor_type="row")
            with Horizontal(id="sweep-charts"):
                yield PlotextPlot(id="sweep-latency")
                yield PlotextPlot(id="sweep-throughput")
            yield Static("", id="sweep-words")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#sweep-box").border_title = "sweeps"
        listing = self.query_one("#sweep-list", DataTable)
        listing.add_columns("sweep", "started", "status", "grid", "cells done")
        self.query_one("#sweep-cells", DataTable).add_columns(*CELL_COLUMNS)
        self.action_reload()
        listing.focus()

    def action_new_sweep(self) -> None:
        if self.launched is not None:
            self.notify("a sweep started here is still running; it shows in the list as it goes", severity="warning")
            return
        self.app.push_screen(SweepFlagsScreen(), self._start)

    def _start(self, flags: str | None) -> None:
        if not flags:
            return
        try:
            self.launched = SweepProcess(flags, self.app.store.path.parent)
        except (ValueError, OSError) as exc:
            self.notify(f"can't start the sweep: {exc}", severity="error")
            return
        self.notify("sweep started in its own process; its cells fill in as they finish")
        self.shown_sweep = None  # the new sweep is the newest: show it once it is stored
        self._watch_timer = self.set_interval(RELOAD_S, self._watch_launched)

    def _watch_launched(self) -> None:
        launched = self.launched
        if launched is None:
            return
        code = launched.poll()
        self.action_reload()
        if code is None:
            return
        self.launched = None
        self._watch_timer.stop()
        if code == 0:
            self.notify("sweep finished")
        else:
            self.notify(launched.error_line(), severity="error")
        launched.close()

    def _sweeps(self):
        from profiler.store.sweeps import SweepStore  # deferred: the screen opens only on demand

        return SweepStore(self.app.store.path)

    def action_reload(self) -> None:
        listing = self.query_one("#sweep-list", DataTable)
        try:
            sweeps = self._sweeps()
            try:
                rows = sweeps.list()
            finally:
                sweeps.close()
        except ProfilerError as exc:
            self.notify(str(exc), severity="error")
            return
        listing.clear()
        self.sweep_ids = [row["id"] for row in rows]
        for row in rows:
            total = sum(row["cells"].values())
            listing.add_row(row["id"][:8], row["started"][:19].replace("T", " "), row["status"],
                            Text(printable_line(describe_grid(row["spec"]))), f"{row['cells'].get('done', 0)}/{total}",
                            key=row["id"])
        if not rows:
            self.query_one("#sweep-words", Static).update("no sweeps in the store yet: run `tokenlat-tui sweep`")
            return
        self.show_sweep(self.shown_sweep if self.shown_sweep in self.sweep_ids else self.sweep_ids[0])

    @on(DataTable.RowHighlighted, "#sweep-list")
    def _sweep_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.shown_sweep:
            self.show_sweep(event.row_key.value)

    def show_sweep(self, sweep_id: str) -> None:
        from profiler.sweep.results import lines_of, scaling_analysis, sweep_results

        try:
            sweeps = self._sweeps()
            try:
                spec, results = sweep_results(sweeps, sweep_id)
            finally:
                sweeps.close()
        except ProfilerError as exc:
            self.notify(str(exc), severity="error")
            return
        self.shown_sweep, self.results = sweep_id, results
        axis = "batch" if spec.mode == "local" else "concurrency"
        table = self.query_one("#sweep-cells", DataTable)
        table.clear()
        for r in results:
            status = r.status if not r.reason else f"{r.status}: {r.reason}"
            # a config file's names and a model's or server's error: outside text, controls made visible,
            # and Text cells, which a DataTable never reads as markup
            table.add_row(Text(printable_line(r.line)), str(r.batch), Text(printable_line(status)), _f(r.p50_ms),
                          _f(r.p95_ms), _f(r.p99_ms),
                          _f(r.ttft_p50_ms), _f(r.tokens_per_s, ".1f"), _f(r.peak_memory_mb, ".0f"),
                          _f(r.achieved_fraction, ".1%"), r.bound or "–", key=r.key)
        lines = lines_of(results)
        self._chart("#sweep-latency", lines, axis, "per-token p50 ms", lambda c: c.p50_ms)
        self._chart("#sweep-throughput", lines, axis, "aggregate tokens/s", lambda c: c.tokens_per_s)
        words = scaling_analysis(results)["words"]
        self.query_one("#sweep-words", Static).update(Text(printable("\n".join(words)) or "no measured cells yet"))
        self.query_one("#sweep-box").border_title = f"sweep {sweep_id[:8]} · {len(results)} cells"

    def _chart(self, selector: str, lines: dict, axis: str, title: str, value) -> None:
        plot = self.query_one(selector, PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(f"{title} vs {axis}")
        batches = sorted({cell.batch for cells in lines.values() for cell in cells})
        if batches:
            plt.xticks([math.log2(b) for b in batches], [str(b) for b in batches])
        plt.xlabel(axis)
        for index, (line, cells) in enumerate(lines.items()):
            marker, colour = STYLES[index % len(STYLES)]
            # log2 of the batch on x (labelled with the batch): 1, 8, 32, 128 would crowd the left edge
            xs = [math.log2(cell.batch) for cell in cells]
            plt.plot(xs, [value(cell) for cell in cells], marker=marker, color=colour, label=line)
        plot.refresh()


__all__ = ["SweepScreen"]
