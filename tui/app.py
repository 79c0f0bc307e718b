"""The Textual app: a thin shell holding the store and the engine factory, the quit rules and global keys.

Everything a panel does lives in `tui/screens/` and `tui/widgets/`; what runs lives in the engine
(`profiler/engine/`), reached through the screen's `RunController`. `make_app` builds the app for
the CLI (`tui/launch.py`) and the tests alike: with a `backend` passed in (a ScriptedBackend) the
engine runs in-process; otherwise it is a process of its own that loads `backend_options`.
"""

from __future__ import annotations

import asyncio
from typing import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from profiler.engine.protocol import DETACH_FINISH, DETACH_STOP
from tui.screens.dialogs import QUIT_BACKGROUND, QUIT_STOP, QuitRunScreen
from tui.screens.estimate import EstimateScreen
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen

STOP_WAIT_S = 1.5
"""How long quitting waits for the engine to say a stopped run is stored. The engine stores it
whether or not we wait; waiting only lets the app's last frame show the result."""


class TokenlatApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "tokenlat-tui"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="quit"),
        Binding("q", "quit", "Quit", show=False, id="quit.q"),
        # ctrl+c ends the app like a signal would: the run is stopped and stored as interrupted
        Binding("ctrl+c", "interrupt", "Interrupt", show=False, priority=True, id="interrupt"),
        Binding("f1,question_mark", "help", "Help", id="help"),
        # priority: the prompt TextArea has focus at start, and the key must work from any field
        Binding("ctrl+t", "estimate", "Estimate", priority=True, id="estimate"),
    ]

    def __init__(self, *, store, engine_factory, backend_options=None, on_hangup: str = DETACH_FINISH,
                 noise_check: bool = True) -> None:
        super().__init__()
        self.noise_check = noise_check
        """Check the machine's noise at start and flag it in the model bar (tui/noise_check.py)."""
        self.store = store
        """The `SessionStore` the app reads (the engine writes it through its own connection)."""
        self.engine_factory = engine_factory
        """on_event -> an engine client (profiler.engine.client)."""
        self.backend_options = backend_options
        self.event_loop: asyncio.AbstractEventLoop | None = None
        self.after_first_frame = None
        """Called once the first frame is drawn (the launcher lowers the UI's priority then, not before:
        on a busy machine a lowered priority would delay the first frame itself)."""
        self.controller = None
        """The main screen's RunController (None until mounted): the engine and the run."""
        self.on_hangup = on_hangup
        """What a hang-up does to a run: `finish` it in the background (default) or `stop` it."""

    def on_mount(self) -> None:
        self.event_loop = asyncio.get_running_loop()
        """For signal handlers (tui/launch.py): they hand their work to the loop with call_soon_threadsafe."""
        screen = MainScreen()
        self.controller = screen.controller
        self.push_screen(screen)
        if self.after_first_frame is not None:
            self.call_after_refresh(self.after_first_frame)

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification (screens' and widgets' `notify` come here) shows its text as written:
        an error often carries outside text (a server's reply, a CSV's value, a model's output), so
        control characters are made visible and '[...]' is never read as markup."""
        from profiler.printable import printable, printable_line

        super().notify(printable(str(message)), title=printable_line(str(title)), severity=severity, timeout=timeout,
                       markup=False)

    @property
    def main(self) -> MainScreen:
        return next(s for s in self.screen_stack if isinstance(s, MainScreen))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_estimate(self) -> None:
        if not isinstance(self.screen, EstimateScreen):
            self.push_screen(EstimateScreen())

    async def action_quit(self) -> None:
        if not self.main.running:
            self.leave(DETACH_STOP)
            return

        async def answered(choice: str | None) -> None:
            if choice == QUIT_STOP:
                await self.action_interrupt()
            elif choice == QUIT_BACKGROUND:
                self.leave(DETACH_FINISH)

        if not isinstance(self.screen, QuitRunScreen):
            self.push_screen(QuitRunScreen(), answered)

    async def action_interrupt(self) -> None:
        await self.controller.stop_and_wait(STOP_WAIT_S)
        self.leave(DETACH_STOP)

    def leave(self, policy: str) -> None:
        """Exit; the engine stops its run (`stop`) or completes it in the background (`finish`)."""
        self.controller.leave(policy)
        self.exit()

    def on_unmount(self) -> None:
        # whatever ended the app without choosing (an error, a test's exit): leave no engine behind
        if self.controller is not None:
            self.controller.leave(DETACH_STOP)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = self.main
        yield SystemCommand("Run prompt", "Run the prompt in the editor (ctrl+r)", main.action_run_prompt)
        yield SystemCommand("Stop run", "Stop the active or watched run; it is saved as interrupted (escape)",
                            main.action_stop_run)
        yield SystemCommand("Load model", "Load the model again after a failed or cancelled load (ctrl+l)",
                            main.action_load_model)
        yield SystemCommand("Connect", "Run on the local model or a server: URL, API, model, concurrency (ctrl+o)",
                            main.action_connect)
        yield SystemCommand("Export to CSV", "Export marked or all sessions (ctrl+e)", main.action_export)
        yield SystemCommand("Fit prediction", "Refit the prediction panel (ctrl+f)", main.action_refit)
        yield SystemCommand("Compare sessions", "Compare the marked sessions: verdict, figures with intervals (c)",
                            main.action_compare)
        yield SystemCommand("Session detail", "The highlighted session's whole run, histogram and spikes (v)",
                            main.action_view_session)
        yield SystemCommand("Sweeps", "Sweeps in the store, their cells, charts and scaling (w)", main.action_sweeps)
        yield SystemCommand("Delete sessions", "Delete the marked or highlighted sessions (delete)",
                            main.action_delete_selected)
        yield SystemCommand("Estimate", "Memory, latency lower bounds and fit for a model on a GPU (ctrl+t)",
                            self.action_estimate)
        yield SystemCommand("Help", "Every key (F1)", self.action_help)


def make_app(*, store, backend=None, backend_options=None, clock=None, on_hangup: str = DETACH_FINISH,
             noise_check: bool | None = None) -> TokenlatApp:
    """The one factory. A `backend` passed in (tests: ScriptedBackend, maybe on a ManualClock) runs in an
    in-process engine; otherwise an engine process loads `backend_options` (default: the embedded model).
    `noise_check` (default: only with a real engine process) flags a noisy machine in the model bar; a
    scripted in-process engine times nothing of the machine, and its screens stay the same on any machine."""
    from profiler.engine.client import EngineClient, InProcessEngine

    if backend is not None:
        clock = clock if clock is not None else getattr(backend, "clock", None)

        def engine_factory(on_event):
            return InProcessEngine(on_event, backend=backend, store=store, clock=clock)
    else:
        if backend_options is None:
            from profiler.backends import BackendOptions

            backend_options = BackendOptions()
        data_dir = store.path.parent

        def engine_factory(on_event):
            return EngineClient(on_event, data_dir=data_dir, on_detach=on_hangup)
    return TokenlatApp(store=store, engine_factory=engine_factory, backend_options=backend_options,
                       on_hangup=on_hangup, noise_check=backend is None if noise_check is None else noise_check)
