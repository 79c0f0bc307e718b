"""The prediction panel's fit: a mixin of the main screen, kept apart for size.

Which sessions are fitted follows the sessions table (its marks, else the highlighted session's
configuration); the fit runs in a worker thread and its report lands in the PredictionPanel.
"""

from __future__ import annotations

from textual import work

from model.session_fit import build_report, sessions_to_fit
from profiler.errors import ProfilerError
from tui.widgets.prediction_panel import PredictionPanel
from tui.widgets.sessions_table import SessionsTable


class PredictionFit:
    """Needs `self.app.store` and a SessionsTable and a PredictionPanel on the screen; sets `last_fit`."""

    last_fit = None
    """The prediction panel's latest FitReport (tests compare it with model/'s own fit)."""

    def action_refit(self) -> None:
        self.refit(announce=True)

    def on_prediction_panel_settings_changed(self, message: PredictionPanel.SettingsChanged) -> None:
        self.refit()

    def refit(self, announce: bool = False) -> None:
        """Fit the marked sessions (else the highlighted one's configuration); `announce`: ctrl+f asked,
        so say what is fitted and how it ended in notifications, not only in the panel."""
        table = self.query_one(SessionsTable)
        panel = self.query_one(PredictionPanel)
        sessions = list(table.sessions.values())
        reference = table.sessions.get(table.highlighted_id or "") or (sessions[0] if sessions else None)
        ids, scope = sessions_to_fit(sessions, sorted(table.marked), reference)
        if not ids:
            panel.show_message("nothing to fit yet: finish a run, or mark sessions with space")
            if announce:
                self.notify("nothing to fit yet: finish a run, or mark sessions with space", severity="warning")
            return
        panel.show_message(f"fitting {scope}…")
        if announce:
            self.notify(f"refitting on {scope}…", timeout=2)
        self._fit_worker(ids, scope, panel.predictors, panel.horizon, panel.next_n, announce)

    @work(thread=True, exclusive=True, exit_on_error=False, group="fit")
    def _fit_worker(self, ids: list[str], scope: str, predictors: list[str], horizon: int, next_n: int,
                    announce: bool) -> None:
        try:
            report = build_report(self.app.store, ids, scope, predictors, horizon=horizon, next_n=next_n)
        except ProfilerError as exc:
            self.app.call_from_thread(self._show_fit_error, str(exc), announce)
            return
        # the fit thread is not the timing thread: waiting for the UI here costs nothing measured
        self.app.call_from_thread(self._show_report, report, announce)

    def _show_fit_error(self, error: str, announce: bool) -> None:
        self.query_one(PredictionPanel).show_message(error)
        if announce:
            self.notify(error, title="can't fit", severity="error")

    def _show_report(self, report, announce: bool = False) -> None:
        self.last_fit = report
        panel = self.query_one(PredictionPanel)
        panel.show_report(report)
        if announce:
            self.notify(panel.summary(report), title="fitted", timeout=4)
