"""The main screen: prompt and settings, live latency, sessions, prediction.

It is a view: what runs is the engine's business, reached through `RunController`
(`tui/run_controller.py`); storage chores (export, delete) live in `session_actions.py`, the
prediction's fit in `main_fit.py`. The live panel is redrawn by a timer at <= REDRAW_HZ, only when
something new arrived.
"""

from __future__ import annotations

import os
import sqlite3

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, TextArea
from textual.worker import Worker, WorkerState

from profiler.collect import check_prompts
from profiler.errors import InputError, ProfilerError, first_line
from profiler.flag_checks import without_flags
from profiler.store.changes import StoreChanges
from tui.messages import (BackendLoaded, BackendLoadFailed, BackendLoadProgressed, EngineExited, PromptCounted,
                          RunFinished, SessionSaved, SessionsChanged, SessionStarted)
from tui.noise_check import check_in_background
from tui.run_controller import RunController
from tui.screens.compare import open_compare
from tui.screens.main_fit import PredictionFit
from tui.screens.session_actions import SessionActions
from tui.screens.session_detail import SessionDetailScreen
from tui.session_view import efficiency_or_none, timing_label
from tui.widgets.latency_panel import LatencyPanel
from tui.widgets.model_bar import ModelBar
from tui.widgets.prediction_panel import PredictionPanel
from tui.widgets.prompt_editor import PromptEditor
from tui.widgets.sessions_table import SessionsTable

STORE_POLL_HZ = 2
"""How often the sessions table asks the store whether anything changed (profiler/store/changes.py:
one PRAGMA when nothing did), so sessions from any process show within a second, no key pressed."""
SESSIONS_PAGE = 500
"""The table lists the store's newest sessions, this many: a store of 10k sessions reads as fast
as one of 500, and the subtitle says how many there are in all."""
REDRAW_HZ = 10
"""The live panel redraws at most this often, however fast tokens come (and only when some came).
With the engine in its own process a redraw no longer shares an interpreter with the timed loop,
but on a 2-core box it still takes CPU time from it; 10 Hz reads as live."""


class MainScreen(SessionActions, PredictionFit, Screen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    # priority: the TextArea would otherwise take ctrl+e (line end); ctrl+r/ctrl+f must work from any field
    # the footer shows bindings in this order and cuts what doesn't fit: help comes first (it lists
    # everything), then what a first run needs; q, r and ctrl+l are listed only by help
    BINDINGS = [
        Binding("f1,question_mark", "app.help", "Help", id="help.main"),
        # focus starts on the sessions table, where letters are commands: p is the way into the prompt
        Binding("p", "edit_prompt", "Prompt", id="prompt"),
        Binding("ctrl+r", "run_prompt", "Run", priority=True, id="run"),
        Binding("escape", "stop_run", "Stop", id="stop"),
        Binding("w", "sweeps", "Sweeps", id="sweeps"),
        Binding("c", "compare", "Compare", id="compare"),
        Binding("v", "view_session", "Detail", id="detail"),
        Binding("ctrl+o", "connect", "Connect", priority=True, id="connect"),
        Binding("ctrl+e", "export", "Export", priority=True, id="export"),
        Binding("ctrl+f", "refit", "Fit", priority=True, id="fit"),
        Binding("delete", "delete_selected", "Delete", id="delete"),
        Binding("ctrl+l", "load_model", "Load model", show=False, priority=True, id="load"),
        Binding("r", "reread_sessions", "Re-read", show=False, id="reread"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.controller = RunController(self, self.app.engine_factory, self.app.backend_options)
        self._drawn: tuple = (None, -1)
        self._frames = 0
        self._changes: StoreChanges | None = None

    def compose(self) -> ComposeResult:
        yield ModelBar(id="model-bar")
        with VerticalScroll(id="body"):
            yield PromptEditor(id="editor")
            yield LatencyPanel(id="latency")
            yield SessionsTable(id="sessions")
            yield PredictionPanel(id="prediction")
        yield Footer(compact=True)  # compact: more keys fit at 80 columns

    def on_mount(self) -> None:
        for widget_id, title in (("editor", "prompt · settings"), ("latency", "live latency"),
                                 ("sessions", "sessions"), ("prediction", "prediction")):
            self.query_one(f"#{widget_id}").border_title = title
        # focus starts where a typed letter is a command, not text: `?`, `w`, `q` do what help says
        # (after the first layout, so a short terminal scrolls the table into view with its focus)
        self.call_after_refresh(self.query_one(SessionsTable).focus)
        self.query_one(ModelBar).show_loading("starting the engine", 0.0)
        self._warn_if_measuring_elsewhere()
        self.controller.start_engine()  # the first frame never waits for the model: it loads in the engine
        if self.app.noise_check:  # a noisy machine is flagged in the model bar
            check_in_background(self, self.query_one(ModelBar).show_noise, lambda: self.controller.engine_pid)
        # the watch's baseline first, then the listing it keeps current: no commit falls between them
        self._changes = StoreChanges(self.app.store.path)
        self.reload_sessions()
        self.store_timer = self.set_interval(1 / STORE_POLL_HZ, self._follow_store)
        """Follows the store (pausing it holds the listing still: a test of a row gone stale uses that)."""
        self.set_interval(1 / REDRAW_HZ, self._redraw_live)

    def _warn_if_measuring_elsewhere(self) -> None:
        """Loading a model takes the cores a run elsewhere on this machine is being timed on: say so,
        and how to wait (escape cancels the load, ctrl+l loads later)."""
        from profiler.engine.run_follow import measuring_elsewhere

        try:
            busy = measuring_elsewhere(self.app.store.path, (os.getpid(),))
        except (ProfilerError, sqlite3.Error):
            return  # the check is a courtesy: the table reports a store in trouble
        if busy:
            session_id, pid = busy[0]
            self.notify(f"pid {pid} is measuring session {session_id[:8]} on this machine: the model loading here "
                        "shares its cores, and its timings carry that. ctrl+l cancels the load; ctrl+l again "
                        "loads it after the run", title="another run is being measured", severity="warning", timeout=15)

    @property
    def running(self) -> bool:
        """Our engine is doing a run (not: we are watching someone else's)."""
        return self.controller.run_active

    @property
    def live(self):
        """The session our engine is running (None when idle)."""
        return self.controller.live if self.controller.run_active else None

    # -- the model, loaded by the engine
    def on_backend_load_progressed(self, message: BackendLoadProgressed) -> None:
        if self.controller.loading:
            self.query_one(ModelBar).show_loading(message.what, message.fraction)

    def on_backend_loaded(self, message: BackendLoaded) -> None:
        self.query_one(ModelBar).show_backend(message.info)
        editor = self.query_one(PromptEditor)
        editor.encode = self.controller.count_tokens
        editor.refresh_token_count()
        self.refit()

    def on_backend_load_failed(self, message: BackendLoadFailed) -> None:
        self.query_one(ModelBar).show_failed(message.error)
        self.notify(message.error, title="model not loaded", severity="error", timeout=10)

    def on_prompt_counted(self, message: PromptCounted) -> None:
        self.query_one(PromptEditor).refresh_token_count()

    def action_load_model(self) -> None:
        """ctrl+l: load the model; while it loads, cancel the load (to wait for a run measured elsewhere:
        escape would rather stop a run the table is following)."""
        if self.controller.loading:
            self.controller.cancel_load()
            return
        if self.controller.info is None:
            self.query_one(ModelBar).show_loading("starting the engine", 0.0)
            self.controller.reload()

    def on_engine_exited(self, message: EngineExited) -> None:
        """The engine died (crash, SIGKILL): one notification; its session is recovered, the app goes on."""
        was_running = self.controller.run_active
        self.controller.run_ended()
        # the engine is reaped by now, so the sweep sees its pid gone and marks its session interrupted
        recovered = self.app.store.recover_orphans()
        saved = f"; session {recovered[0][:8]} kept as interrupted" if recovered else ""
        self.notify(f"the engine stopped unexpectedly (exit code {message.code}){saved}. ctrl+l restarts it.",
                    title="engine stopped", severity="error", timeout=15)
        self.query_one(ModelBar).show_failed("the engine stopped (ctrl+l restarts it)")
        self.query_one(PromptEditor).encode = None
        if was_running:
            self._redraw_live(force=True)
        self.reload_sessions()

    # -- running
    def action_run_prompt(self) -> None:
        if self.running:
            self.notify("a run is already active (escape stops it)", severity="warning")
            return
        if self.controller.info is None:
            self.notify("the model is not loaded yet" if self.controller.loading else "no model loaded (ctrl+l loads it)",
                        severity="warning")
            return
        editor = self.query_one(PromptEditor)
        try:
            settings = editor.settings()
            check_prompts([editor.prompt])
        except ProfilerError as exc:
            self.notify(str(exc), title="can't run", severity="error")
            return
        self.controller.unfollow()
        self.controller.run(editor.prompt, settings, breakdown=editor.breakdown)
        # at once, not when the engine's first session starts (that can take a second)
        self.query_one(LatencyPanel).show_starting(self.controller.progress_text())

    def action_connect(self) -> None:
        """ctrl+o: run prompts on the local model or a server (the choice holds for the app session)."""
        from tui.screens.connection import ConnectionScreen

        if not isinstance(self.app.screen, ConnectionScreen):
            self.app.push_screen(ConnectionScreen(self.controller))

    def action_sweeps(self) -> None:
        """w: the sweeps in the store, their cells and charts; `n` there starts a new sweep."""
        from tui.screens.sweep import SweepScreen  # deferred: textual-plotext and the sweep readers

        self.app.push_screen(SweepScreen())

    def action_stop_run(self) -> None:
        """Escape: our run, else the run we are watching, else the model load (in that order: the
        panel shows the run, so that is what escape is understood to stop); with none of those, from
        the prompt editor, back to the sessions table."""
        controller = self.controller
        follower = controller.follower
        if self.running:
            controller.stop()  # the engine stops before the next token and stores the session interrupted
            self.notify("stopping…", timeout=1.5)
        elif follower is not None and not follower.ended:
            if controller.owns(follower.pid):
                controller.engine.stop()
                self.notify("stopping…", timeout=1.5)
            else:
                self.notify(follower.ask_owner_to_stop(), timeout=3)
        elif controller.loading:
            controller.cancel_load()
        elif self.focused is not None and self.query_one(PromptEditor) in self.focused.ancestors_with_self:
            self.query_one(SessionsTable).focus()  # nothing to stop: leave the prompt for the commands

    def action_edit_prompt(self) -> None:
        """p: into the prompt editor (escape there returns to the sessions table)."""
        self.query_one("#prompt", TextArea).focus()

    def on_session_started(self, message: SessionStarted) -> None:
        self.reload_sessions()
        # the engine holds the session's first timed token until this redraw is on screen (engine/settle.py)
        self.call_after_refresh(self.controller.acknowledge, message.session_id)

    def on_session_saved(self, message: SessionSaved) -> None:
        self._redraw_live(force=True)
        self.reload_sessions()
        self.query_one(SessionsTable).highlight(message.session_id)
        if message.status == "failed":
            self.notify(message.error or "the run failed", title="session failed", severity="error")
        if not message.warmup:
            self.refit()

    def on_run_finished(self, message: RunFinished) -> None:
        if not self.controller.run_active:
            return
        self._redraw_live(force=True)
        self.controller.run_ended()
        if message.error:
            title = "can't run" if message.refused else "run stopped"
            # a refusal is about the settings: name them as the settings panel does, not as CLI flags
            error = without_flags(message.error) if message.refused else message.error
            self.notify(error, title=title, severity="error", timeout=10)
        self.reload_sessions()

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        # the one place unexpected worker failures (fits) become a notification instead of a crash
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        line = first_line(error, None)
        self.query_one(PredictionPanel).show_message(f"fit failed: {line}")

    def _redraw_live(self, force: bool = False) -> None:
        controller = self.controller
        live = self.live
        progress = controller.progress_text()
        if progress is not None:
            # elapsed and ETA move every tick, tokens or not, also before the first session exists
            self.query_one(LatencyPanel).show_progress(progress)
            if live is None:
                return
        if live is not None:
            records = live.records
            state = (live.session_id, len(records))
            if state != self._drawn or force:
                self._drawn = state
                self._frames += 1
                self.query_one(LatencyPanel).show_tokens(
                    controller.live_title(), list(records), input_tokens=live.input_tokens,
                    max_new_tokens=live.max_new_tokens, sample=live.sample,
                    figures_only=not force and self._frames % 2 == 1, progress=progress,
                    timing=timing_label({"timing": live.timing}))
            return
        follower = controller.follower
        if follower is None or (follower.ended and not force):
            return
        try:
            arrived = follower.poll()
        except Exception as exc:  # noqa: BLE001 - a store hiccup must not kill the view; try again next tick
            self.log.warning(f"following {follower.session_id}: {exc}")
            return
        if arrived or force or follower.ended:
            owner = "this app's engine" if controller.owns(follower.pid) else f"pid {follower.pid}"
            state = "attached" if not follower.ended else follower.status
            self.query_one(LatencyPanel).show_tokens(
                f"{state} {follower.session_id[:8]} · {owner}", list(follower.records),
                input_tokens=follower.input_tokens, max_new_tokens=follower.max_new_tokens, ended=follower.ended)
        if follower.ended:
            self.reload_sessions()

    # -- sessions and what the selection drives
    def reload_sessions(self) -> None:
        sessions = self.app.store.list_sessions(limit=SESSIONS_PAGE)
        total = self._changes.session_count() if self._changes is not None and len(sessions) == SESSIONS_PAGE else None
        self.query_one(SessionsTable).load(sessions, total)

    def action_reread_sessions(self) -> None:
        """r: read the store again now (it is followed anyway; this is for whoever doubts it)."""
        self.reload_sessions()
        table = self.query_one(SessionsTable)
        self.notify(f"re-read the store: {table.total} session(s)", timeout=2)

    def _follow_store(self) -> None:
        """Twice a second: sessions added, ended or deleted by any process re-list the table; tokens
        written to running sessions update those rows' figures in place."""
        try:
            change = self._changes.look()
            if change is None:
                return
            table = self.query_one(SessionsTable)
            if change.listing:
                marked = set(table.marked)
                self.reload_sessions()
                if table.marked != marked:  # a marked session was deleted elsewhere: the fit changes
                    self.refit()
                return
            listed = [session_id for session_id in change.running if session_id in table.sessions]
            table.refresh_sessions([self.app.store.get_session(session_id) for session_id in listed])
        except (ProfilerError, sqlite3.Error) as exc:
            # deleted between two reads, a busy or damaged store: the next look tries again
            self.log.warning(f"following the store: {exc}")

    def on_sessions_changed(self, message: SessionsChanged) -> None:
        self.reload_sessions()
        self.refit()

    def on_sessions_table_highlighted(self, message: SessionsTable.Highlighted) -> None:
        if self.running or message.session_id is None:
            return
        session = self.query_one(SessionsTable).sessions[message.session_id]
        if session["status"] == "running":
            # someone is collecting it right now (a detached engine, another app, `collect`): follow it live
            if self.controller.follow(self.app.store.path, message.session_id) is not None:
                self._redraw_live(force=True)
                return
        elif self.controller.follower is not None and self.controller.follower.session_id == message.session_id:
            return  # it just ended: the follower drew its final state
        self.controller.unfollow()
        try:
            stored = self.app.store.get_session(message.session_id)
        except InputError:
            return  # deleted by another process since the table was read: its next refresh drops the row
        tokens = self.app.store.session_tokens(message.session_id)
        title = f"{session['status']} {message.session_id[:8]} · {session['started'][:19].replace('T', ' ')}"
        panel = self.query_one(LatencyPanel)
        panel.show_tokens(title, tokens, input_tokens=session["input_tokens"], timing=timing_label(session),
                          ended=session["status"] != "running")
        panel.show_efficiency(efficiency_or_none(stored))

    def on_sessions_table_marks_changed(self, message: SessionsTable.MarksChanged) -> None:
        self.refit()

    # -- one session in detail
    def action_view_session(self) -> None:
        session_id = self.query_one(SessionsTable).highlighted_id
        if session_id is not None:
            self.app.push_screen(SessionDetailScreen(session_id))

    @on(SessionsTable.RowSelected, "#sessions")
    def _session_chosen(self, event: SessionsTable.RowSelected) -> None:
        self.action_view_session()  # enter on a row

    def action_compare(self) -> None:
        open_compare(self, self.query_one(SessionsTable))  # the marked sessions; fewer than two: says how
