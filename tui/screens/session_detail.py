"""One session in full: latency over the whole run, the decode histogram, its spikes explained, and
where inside a decode step the time went (the profiled pass run beside it, when one was: `breakdown`
in the run settings or `collect --breakdown`). `t` writes the run as a trace file for Perfetto.

Opened from the sessions table (enter or `v`), closed with escape. Everything is read once from
the store when the screen opens. The first token (prompt processing) is stated apart and left out
of the chart and histogram: one 300 ms prefill would flatten a scale meant for 8 ms decode steps.
The body scrolls vertically; nothing is wider than the screen.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from model.spikes import find_spikes
from profiler.errors import InputError
from profiler.printable import printable_line
from profiler.records import percentile
from tui.session_view import run_session_ids, timing_label
from tui.widgets.latency_histogram import LatencyHistogram
from tui.widgets.run_chart import RunChart
from tui.widgets.spike_list import SpikeList

SPIKES_LISTED = 10
X_AXES = {"k": ("token k", "k"), "context": ("context (tokens)", "context_size")}
"""What the chart's x axis can be: (label, token field)."""


class SessionDetailScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", priority=True, id="detail.back"),
        # short: the chart heading already says what `c` switches to, and 80 columns must hold every key
        Binding("c", "toggle_axis", "x axis", id="detail.axis"),
        # the run as a Perfetto file in the current directory (README, "export --trace")
        Binding("t", "write_trace", "trace file", id="detail.trace"),
    ]

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.x_axis = "k"
        self.session: dict[str, Any] = {}
        self.decode: list[dict[str, Any]] = []
        self.profiled: dict[str, Any] | None = None
        """The newest profiled pass of this session's run, if any: the spike list's tokens are looked up in it."""

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Static("", id="detail-figures")
            yield Static("", id="detail-chart-heading", classes="detail-heading")
            yield RunChart(id="detail-chart")
            yield Static("decode latency histogram", classes="detail-heading")
            yield LatencyHistogram(id="detail-histogram")
            yield SpikeList(id="detail-spikes")
            yield Static("", id="detail-breakdown")
            # the highlighted spike's step in the profiled pass; hidden when there is no pass
            yield Static("", id="detail-token")
        yield Footer()

    def on_mount(self) -> None:
        store = self.app.store
        try:
            self.session = session = store.get_session(self.session_id)
        except InputError as exc:  # deleted by another process since the table was read
            self.app.notify(str(exc), title="session gone", severity="warning")
            self.app.pop_screen()
            return
        tokens = store.session_tokens(self.session_id)
        self.decode = [t for t in tokens if t["phase"] == "decode"]
        prefill = next((t for t in tokens if t["phase"] == "prefill"), None)
        latencies = [t["latency_ms"] for t in self.decode]
        self.query_one("#detail-title", Static).update(_title(session))
        self.query_one("#detail-figures", Static).update(_figures(session, prefill, latencies))
        self._draw_chart()
        self.query_one(LatencyHistogram).set_values(latencies)
        spikes = find_spikes(tokens, store.session_metrics(self.session_id), top=SPIKES_LISTED)
        median = percentile(sorted(latencies), 50) if latencies else None
        self.query_one(SpikeList).show_spikes(spikes, median, self.session_id)
        self.profiled = _profiled_pass(store, session)
        self.query_one("#detail-breakdown", Static).update(_breakdown(self.profiled))
        token = self.query_one("#detail-token", Static)
        token.display = self.profiled is not None and bool(spikes)
        token.update(Text("tab to the spike list, then ↑/↓: a token's step in the profiled pass shows here",
                          style="dim"))
        self.query_one("#detail-body").focus()  # arrows and page keys scroll it

    def _draw_chart(self) -> None:
        label, field = X_AXES[self.x_axis]
        other = "context" if self.x_axis == "k" else "token k"
        self.query_one("#detail-chart-heading", Static).update(Text.assemble(
            ("latency per decode token", "bold"), f" vs {label}, slowest per column · ", ("c", "bold"), f": {other}"))
        self.query_one(RunChart).set_data([t[field] for t in self.decode], [t["latency_ms"] for t in self.decode],
                                          x_name=label)

    def on_spike_list_highlighted(self, message: SpikeList.Highlighted) -> None:
        """The highlighted token's step k in the profiled pass (same prompt and settings: same position)."""
        if self.profiled is None:
            return
        from tui.breakdown_view import token_breakdown

        spike = message.spike
        token = self.query_one("#detail-token", Static)
        token.update(token_breakdown(self.profiled, self.session_id, spike.k, spike.latency_ms))
        token.scroll_visible()

    def action_toggle_axis(self) -> None:
        self.x_axis = "context" if self.x_axis == "k" else "k"
        self._draw_chart()

    def action_write_trace(self) -> None:
        """The session (its whole run) as a Perfetto / chrome://tracing file in the current directory."""
        from profiler.errors import ProfilerError
        from tui.trace_file import write_session_trace

        try:
            path, count = write_session_trace(self.app.store, self.session_id)
        except (ProfilerError, OSError) as exc:
            self.app.notify(printable_line(str(exc)), title="trace not written", severity="error", markup=False)
            return
        self.app.notify(printable_line(f"{path} ({count} session(s)): open it in ui.perfetto.dev"),
                        title="trace written", markup=False)  # a path is text, never markup


def _profiled_pass(store, session: dict[str, Any]) -> dict[str, Any] | None:
    """The profiled pass run beside this session's run (the newest), or None."""
    from profiler.store.breakdowns import passes_for_sessions

    passes = passes_for_sessions(store, run_session_ids(store, session))
    return passes[-1] if passes else None


def _breakdown(profiled: dict[str, Any] | None) -> Any:
    """The pass as `show ID --breakdown` prints it, or the line saying how to get one."""
    from rich.console import Group

    from tui.breakdown_view import NO_PASS, class_table, cost_line

    if profiled is None:
        return Text(NO_PASS, style="dim")
    line = cost_line(profiled["result"])
    return Group(class_table(profiled), *([Text(line, style="dim")] if line else []))


def _title(session: dict[str, Any]) -> Text:
    model = session["model"] + (f" ({session['model_label']})" if session.get("model_label") else "")
    parts = [f"session {session['id'][:8]}", session["status"], model,
             " ".join(p for p in (session.get("device"), session.get("dtype")) if p),
             (session.get("started") or "")[:19].replace("T", " ")]
    if session.get("warmup"):
        parts.append("warm-up")
    # model, label, device and dtype came from outside (an imported CSV): controls made visible
    return Text(printable_line(" · ".join(p for p in parts if p)), style="bold")


def _figures(session: dict[str, Any], prefill: dict | None, latencies: list[float]) -> Text:
    ordered = sorted(latencies)
    text = Text()
    if prefill is not None:
        text.append("TTFT ", "bold")
        text.append(f"{prefill['latency_ms']:.2f} ms")
        text.append(f" (prompt of {session['input_tokens']} tokens + first token; kept out of the chart)\n", "dim")
    if ordered:
        text.append("decode ", "bold")
        text.append(" · ".join(f"p{q} {percentile(ordered, q):.2f} ms" for q in (50, 95, 99)))
        mean = sum(ordered) / len(ordered)
        text.append(f" · max {ordered[-1]:.2f} ms · {len(ordered)} tokens · {1000.0 / mean:.1f} tok/s"
                    if mean > 0 else "")
    else:
        text.append("no decode tokens", "dim")
    label = timing_label(session)
    if label:
        text.append(f"\n{label}: ", "bold yellow")
        text.append("per-token values are derived from the gaps between streamed chunks")
    return text
