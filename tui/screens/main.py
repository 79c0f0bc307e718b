"""The main screen: prompt and settings, live latency, sessions, prediction — and the run itself.

Run control lives here because every panel on this screen reacts to it; storage chores (export,
delete) live in `session_actions.py`, the decoding thread's bridge in `tui/worker.py`.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, TextArea
from textual.worker import Worker, WorkerState

from profiler.collect import Collector, check_prompts
from profiler.errors import ProfilerError
from tui.messages import (BackendLoaded, BackendLoadFailed, BackendLoadProgressed, RunFinished, SessionSaved,
                          SessionsChanged, SessionStarted)
from tui.screens.session_actions import SessionActions
from tui.session_view import efficiency_or_none
from tui.widgets.latency_panel import LatencyPanel
from tui.widgets.model_bar import ModelBar
from tui.widgets.prediction_fit import build_report, sessions_to_fit
from tui.widgets.prediction_panel import PredictionPanel
from tui.widgets.prompt_editor import PromptEditor
from tui.widgets.sessions_table import SessionsTable
from tui.worker import LiveRun

REDRAW_HZ = 10
"""The live panel redraws at most this often, however fast tokens come. The issue allows 20; on a
2-core CPU box benchmarks/fidelity.py measured the app's decode median ~10 % over headless at 20 Hz
and ~5 % at 10 Hz (rendering competes with torch's threads), and 10 Hz still reads as live."""


class MainScreen(SessionActions, Screen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    # priority: the TextArea would otherwise take ctrl+e (line end); ctrl+r/ctrl+f must work from any field
    BINDINGS = [
        Binding("ctrl+r", "run_prompt", "Run", priority=True, id="run"),
        Binding("escape", "stop_run", "Stop", id="stop"),
        Binding("ctrl+e", "export", "Export", priority=True, id="export"),
        Binding("ctrl+f", "refit", "Fit", priority=True, id="fit"),
        Binding("delete", "delete_selected", "Delete", id="delete"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.live: LiveRun | None = None
        """The active run; None when idle."""
        self._drawn = (None, -1)
        self._max_new_tokens: int | None = None
        self.last_fit = None
        """The prediction panel's latest FitReport (tests compare it with model/'s own fit)."""

    def compose(self) -> ComposeResult:
        yield ModelBar(id="model-bar")
        with VerticalScroll(id="body"):
            yield PromptEditor(id="editor")
            yield LatencyPanel(id="latency")
            yield SessionsTable(id="sessions")
            yield PredictionPanel(id="prediction")
        yield Footer()

    def on_mount(self) -> None:
        for widget_id, title in (("editor", "prompt · settings"), ("latency", "live latency"),
                                 ("sessions", "sessions"), ("prediction", "prediction")):
            self.query_one(f"#{widget_id}").border_title = title
        self.query_one("#prompt", TextArea).focus()
        self.reload_sessions()
        if self.app.backend is not None:
            self.post_message(BackendLoaded(self.app.backend))
        else:
            self.query_one(ModelBar).show_loading("starting", 0.0)
            self._load_backend()
        self.set_interval(1 / REDRAW_HZ, self._redraw_live)

    @property
    def running(self) -> bool:
        return self.live is not None

    # -- the model, loaded off the UI thread so the first frame never waits for torch
    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load_backend(self) -> None:
        from profiler.backends import load_backend

        try:
            backend = load_backend(self.app.backend_options,
                                   lambda what, fraction: self.post_message(BackendLoadProgressed(what, fraction)))
        except ProfilerError as exc:
            self.post_message(BackendLoadFailed(str(exc)))
            return
        self.post_message(BackendLoaded(backend))

    def on_backend_load_progressed(self, message: BackendLoadProgressed) -> None:
        if self.app.backend is None:
            self.query_one(ModelBar).show_loading(message.what, message.fraction)

    def on_backend_loaded(self, message: BackendLoaded) -> None:
        self.app.backend = message.backend
        self.query_one(ModelBar).show_backend(message.backend.info)
        editor = self.query_one(PromptEditor)
        editor.encode = message.backend.encode
        editor.refresh_token_count()
        self.refit()

    def on_backend_load_failed(self, message: BackendLoadFailed) -> None:
        self.query_one(ModelBar).show_failed(message.error)
        self.notify(message.error, title="model not loaded", severity="error", timeout=10)

    # -- running
    def action_run_prompt(self) -> None:
        if self.running:
            self.notify("a run is already active (escape stops it)", severity="warning")
            return
        if self.app.backend is None:
            self.notify("the model is not loaded yet", severity="warning")
            return
        editor = self.query_one(PromptEditor)
        try:
            settings = editor.settings()
            collector = Collector(self.app.backend, self.app.store, settings, clock=self.app.clock)
            check_prompts([editor.prompt])
            collector.encode_checked(editor.prompt)  # a too-long prompt is refused here, not in the thread
        except ProfilerError as exc:
            self.notify(str(exc), title="can't run", severity="error")
            return
        self.live = LiveRun(self, cancel=collector.cancel, collector=collector)
        collector.observer = self.live
        self._max_new_tokens = settings.max_new_tokens
        self._run_worker(collector, editor.prompt)

    @work(thread=True, exclusive=True, exit_on_error=False, group="run")
    def _run_worker(self, collector: Collector, prompt: str) -> None:
        try:
            collector.run([prompt])
        except ProfilerError as exc:
            self.post_message(RunFinished(str(exc)))
            return
        self.post_message(RunFinished())

    def action_stop_run(self) -> None:
        if self.live is not None:
            self.live.cancel.set()  # the loop stops before the next token and saves the session as interrupted
            self.notify("stopping…", timeout=1.5)

    async def stop_run_and_wait(self) -> None:
        """Cancel the run and wait until its session is flushed and marked (used by quit and SIGHUP)."""
        if self.live is not None:
            self.live.cancel.set()
        for worker in list(self.workers):
            if worker.group == "run" and not worker.is_finished:
                try:
                    await worker.wait()
                except Exception:  # noqa: BLE001 - its failure was already reported; we only need it done
                    pass

    def on_session_started(self, message: SessionStarted) -> None:
        self.reload_sessions()

    def on_session_saved(self, message: SessionSaved) -> None:
        self._redraw_live(force=True)
        self.reload_sessions()
        self.query_one(SessionsTable).highlight(message.session_id)
        if message.status == "failed":
            self.notify(message.error or "the run failed", title="session failed", severity="error")
        if not message.warmup:
            self.refit()

    def on_run_finished(self, message: RunFinished) -> None:
        self._end_run(message.error)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        # the one place unexpected worker failures become a notification instead of a crash
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        if event.worker.group == "run":
            self._end_run(line)
        elif event.worker.group == "load":
            self.on_backend_load_failed(BackendLoadFailed(line))
        else:
            self.query_one(PredictionPanel).show_message(f"fit failed: {line}")

    def _end_run(self, error: str | None) -> None:
        if self.live is None:
            return
        self._redraw_live(force=True)
        self.live = None
        if error:
            self.notify(error, title="run stopped", severity="error", timeout=10)
        self.reload_sessions()

    def _redraw_live(self, force: bool = False) -> None:
        live = self.live
        if live is None:
            return
        records = live.records
        state = (live.session_id, len(records))
        if state == self._drawn and not force:
            return
        self._drawn = state
        if live.session_id is None:
            return
        input_tokens = records[0].context_size if records else None
        self.query_one(LatencyPanel).show_tokens(
            f"running {live.session_id[:8]}", list(records), input_tokens=input_tokens,
            max_new_tokens=self._max_new_tokens, sample=live.latest_sample())

    # -- sessions and what the selection drives
    def reload_sessions(self) -> None:
        self.query_one(SessionsTable).load(self.app.store.list_sessions())

    def on_sessions_changed(self, message: SessionsChanged) -> None:
        self.reload_sessions()
        self.refit()

    def on_sessions_table_highlighted(self, message: SessionsTable.Highlighted) -> None:
        if self.running or message.session_id is None:
            return
        session = self.query_one(SessionsTable).sessions[message.session_id]
        tokens = self.app.store.session_tokens(message.session_id)
        title = f"{session['status']} {message.session_id[:8]} · {session['started'][:19].replace('T', ' ')}"
        panel = self.query_one(LatencyPanel)
        panel.show_tokens(title, tokens, input_tokens=session["input_tokens"])
        panel.show_efficiency(efficiency_or_none(self.app.store.get_session(message.session_id)))

    def on_sessions_table_marks_changed(self, message: SessionsTable.MarksChanged) -> None:
        self.refit()

    # -- prediction
    def action_refit(self) -> None:
        self.refit()

    def on_prediction_panel_settings_changed(self, message: PredictionPanel.SettingsChanged) -> None:
        self.refit()

    def refit(self) -> None:
        table = self.query_one(SessionsTable)
        panel = self.query_one(PredictionPanel)
        sessions = list(table.sessions.values())
        reference = table.sessions.get(table.highlighted_id or "") or (sessions[0] if sessions else None)
        ids, scope = sessions_to_fit(sessions, sorted(table.marked), reference)
        if not ids:
            panel.show_message("nothing to fit yet: finish a run, or mark sessions with space")
            return
        panel.show_message(f"fitting {scope}…")
        self._fit_worker(ids, scope, panel.predictor, panel.horizon, panel.next_n)

    @work(thread=True, exclusive=True, exit_on_error=False, group="fit")
    def _fit_worker(self, ids: list[str], scope: str, predictor: str, horizon: int, next_n: int) -> None:
        try:
            report = build_report(self.app.store, ids, scope, predictor, horizon=horizon, next_n=next_n)
        except ProfilerError as exc:
            self.app.call_from_thread(self.query_one(PredictionPanel).show_message, str(exc))
            return
        # the fit thread is not the timing thread: waiting for the UI here costs nothing measured
        self.app.call_from_thread(self._show_report, report)

    def _show_report(self, report) -> None:
        self.last_fit = report
        self.query_one(PredictionPanel).show_report(report)
