"""Live per-token latency: the first token apart, a chart of decode steps with a ms scale, figures,
the run's progress, the text.

Fed either by the running session's buffer (≤ 10 redraws a second, driven by the screen's timer)
or by a past session picked in the table. The chart (RunChart) covers the whole session and
summarises each column by its max, so a single slow token (a GC pause, a clock drop) stays visible
however many tokens share a column.
"""

from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from model.efficiency import Efficiency
from profiler.records import percentile
from profiler.printable import printable
from tui.widgets.run_chart import RunChart

TEXT_TAIL_CHARS = 600
"""Only the end of a long generation is shown: the panel is a few lines tall."""


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def system_figures(sample: tuple | None) -> str:
    """GPU utilisation/temperature/SM clock from NVML, else the process's CPU% and RSS."""
    if not sample:
        return "GPU/CPU —"
    _wall, gpu_util, gpu_mem, gpu_temp, sm_clock, power, _throttle, cpu, rss = sample
    if gpu_util is not None:
        return f"GPU {gpu_util}%  {gpu_temp}°C  SM {sm_clock} MHz  {power:.0f} W  {gpu_mem:.0f} MiB"
    cpu_text = "—" if cpu is None else f"{cpu:.0f}%"
    rss_text = "—" if rss is None else f"{rss:.0f} MiB"
    return f"CPU {cpu_text}  RSS {rss_text}"


_NOTHING = object()


class LatencyPanel(Vertical):
    can_focus = True
    """A tab stop of its own: at 80x24 tabbing here scrolls the panel into view."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: dict[str, object] = {}
        """What each rarely-changing box shows now (title, TTFT), so an unchanged one isn't redrawn."""

    def compose(self) -> ComposeResult:
        yield Static("", id="latency-title")
        yield Static("", id="figures")
        yield Static("", id="run-progress")
        yield Static("", id="bandwidth")
        with Horizontal(id="spark-row"):
            yield Static("TTFT\n—", id="first-token")
            yield RunChart(id="decode-chart")
        yield Static("", id="generated")

    def on_mount(self) -> None:
        self.show_tokens("no session yet: p, type a prompt, ctrl+r runs it", [], input_tokens=None)

    def show_efficiency(self, efficiency: Efficiency | None) -> None:
        """Measured vs possible for a past session: hidden when its GPU or model is unknown (CPU runs)."""
        line = self.query_one("#bandwidth", Static)
        if efficiency is None:
            line.display = False
            return
        line.update(Text.assemble(
            ("bandwidth ", "bold"), f"{efficiency.fraction:.0%} of {efficiency.gpu} · p50 {efficiency.measured_ms:.2f} ms, "
            f"floor ≥ {efficiency.floor_ms:.2f} ms"))
        line.display = True

    def _update_if_changed(self, selector: str, key, content) -> None:
        shown = self._shown.get(selector, _NOTHING)
        if shown != key:
            self._shown[selector] = key
            self.query_one(selector, Static).update(content(), layout=False)

    @property
    def chart(self) -> RunChart:
        return self.query_one("#decode-chart", RunChart)

    def show_progress(self, line: str | None) -> None:
        """The run's progress (`repeat 2/3 · tokens 40/128 · elapsed … · ETA …`); None hides it (past sessions)."""
        self._update_if_changed("#run-progress", line, lambda: Text(line or "", style="bold yellow"))
        box = self.query_one("#run-progress", Static)
        if box.display != (line is not None):
            box.display = line is not None  # a past session has no progress: its row goes to the chart

    def show_starting(self, line: str) -> None:
        """Right after ctrl+r, before the engine's first session exists: say so at once."""
        self._update_if_changed("#latency-title", line, lambda: Text(line, style="bold"))
        self.show_progress(line)

    def show_tokens(self, title: str, records: Sequence, *, input_tokens: int | None, max_new_tokens: int | None = None,
                    sample: tuple | None = None, figures_only: bool = False, progress: str | None = None,
                    timing: str = "", ended: bool = False) -> None:
        """Redraw from token records (TokenRecord objects or store dicts with the same fields).

        `progress`: the run's progress line (None for a past or followed session); `timing`: the
        session's `timing_label` (client arrival timing for a remote session), shown in the title;
        `ended`: the session is over, so its final token is labelled "last", not "now".

        `figures_only` leaves the chart and the text as they are: they cost most of a redraw
        (measured: ~60 % of the UI's CPU during a run), so a live run refreshes them at half the
        figures' rate. Boxes whose content did not change are not updated at all."""

        def field(record, name):
            return record[name] if isinstance(record, dict) else getattr(record, name)

        first = next((field(r, "latency_ms") for r in records if field(r, "phase") == "prefill"), None)
        decode = [field(r, "latency_ms") for r in records if field(r, "phase") == "decode"]
        ordered = sorted(decode)
        p50, p95, p99 = (percentile(ordered, q) for q in (50, 95, 99)) if ordered else (None, None, None)
        current = field(records[-1], "latency_ms") if records else None
        context = field(records[-1], "context_size") if records else input_tokens
        tokens_per_s = 1000.0 * len(decode) / sum(decode) if decode and sum(decode) > 0 else None
        so_far = f"{len(records)}" + (f"/{max_new_tokens}" if max_new_tokens else "")

        # every box has a fixed size (app.tcss): layout=False skips a whole-screen layout pass per frame,
        # the main cost of a redraw, which a 2-core machine takes from the decoding thread
        heading = f"{title} · {timing}" if timing else title
        self._update_if_changed("#latency-title", heading, lambda: Text(heading, style="bold"))
        self.show_progress(progress)
        bandwidth = self.query_one("#bandwidth", Static)
        if bandwidth.display:  # belongs to the session shown before; the screen re-adds it for a past session
            bandwidth.display = False
        figures = Text.assemble(
            ("TTFT ", "bold"), f"{_ms(first)} ms · ", ("last " if ended else "now ", "bold"), f"{_ms(current)} ms · ",
            # the decode rate (TTFT excluded), as everywhere: said in words so it isn't read as end-to-end
            ("decode tok/s ", "bold"), "—" if tokens_per_s is None else f"{tokens_per_s:.1f}", "\n",
            ("decode ", "bold"), f"p50 {_ms(p50)} ms · p95 {_ms(p95)} ms · p99 {_ms(p99)} ms\n",
            ("context ", "bold"), "—" if context is None else str(context), " · ",
            ("tokens ", "bold"), so_far, " · ", system_figures(sample),
        )
        self.query_one("#figures", Static).update(figures, layout=False)
        self._update_if_changed("#first-token", first, lambda: Text.assemble(("TTFT\n", "bold"), f"{_ms(first)} ms"))
        if figures_only:
            return
        self.chart.set_data([field(r, "k") for r in records if field(r, "phase") == "decode"], decode)
        # cut first, then made printable: a cut that lands inside a word with accents would leave a combining
        # mark at the start, which printable() gives a base (a terminal draws a lone one a cell wide)
        text = printable("".join(field(r, "token_text") or "" for r in records)[-TEXT_TAIL_CHARS:])
        self.query_one("#generated", Static).update(Text(text, style="italic"), layout=False)
