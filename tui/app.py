"""The Textual app: a thin shell holding the store and backend, the quit rules and global keys.

Everything a panel does lives in `tui/screens/` and `tui/widgets/`; `make_app` builds the app for
the CLI (`tui/launch.py`) and the tests alike, with the backend or its options passed in.
"""

from __future__ import annotations

from typing import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tui.screens.dialogs import ConfirmScreen
from tui.screens.estimate import EstimateScreen
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen


class TokenlatApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "tokenlat-tui"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="quit"),
        Binding("q", "quit", "Quit", show=False, id="quit.q"),
        # ctrl+c ends the app like a signal would: the run is flushed and saved as interrupted
        Binding("ctrl+c", "interrupt", "Interrupt", show=False, priority=True, id="interrupt"),
        Binding("f1,question_mark", "help", "Help", id="help"),
        # priority: the prompt TextArea has focus at start, and the key must work from any field
        Binding("ctrl+t", "estimate", "Estimate", priority=True, id="estimate"),
    ]

    def __init__(self, *, store, backend=None, backend_options=None, clock=None) -> None:
        super().__init__()
        self.store = store
        """The `SessionStore` (one connection per thread inside)."""
        self.backend = backend
        """The loaded backend; None until the background load finishes."""
        self.backend_options = backend_options
        self.clock = clock if clock is not None else getattr(backend, "clock", None)
        """The decode loop's clock: a scripted backend's ManualClock makes runs exactly repeatable."""

    def on_mount(self) -> None:
        self.push_screen(MainScreen())

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
            self.exit()
            return

        async def answered(yes: bool) -> None:
            if yes:
                await self.action_interrupt()

        self.push_screen(ConfirmScreen("A run is active. Stop it (saved as interrupted) and quit?"), answered)

    async def action_interrupt(self) -> None:
        await self.main.stop_run_and_wait()
        self.exit()

    def interrupt_from_signal(self) -> None:
        """SIGHUP/SIGTERM (a dropped SSH link): stop decoding now, then quit once the session is saved."""
        if self.main.live is not None:
            self.main.live.cancel.set()
        self.call_later(self.action_interrupt)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        main = self.main
        yield SystemCommand("Run prompt", "Run the prompt in the editor (ctrl+r)", main.action_run_prompt)
        yield SystemCommand("Stop run", "Stop the active run; it is saved as interrupted (escape)",
                            main.action_stop_run)
        yield SystemCommand("Export to CSV", "Export marked or all sessions (ctrl+e)", main.action_export)
        yield SystemCommand("Fit prediction", "Refit the prediction panel (ctrl+f)", main.action_refit)
        yield SystemCommand("Delete sessions", "Delete the marked or highlighted sessions (delete)",
                            main.action_delete_selected)
        yield SystemCommand("Estimate", "Memory, latency lower bounds and fit for a model on a GPU (ctrl+t)",
                            self.action_estimate)
        yield SystemCommand("Help", "Every key (F1)", self.action_help)


def make_app(*, store, backend=None, backend_options=None, clock=None) -> TokenlatApp:
    """The one factory: pass a loaded `backend` (tests: ScriptedBackend) or `backend_options` to load."""
    if backend is None and backend_options is None:
        from profiler.backends import BackendOptions

        backend_options = BackendOptions()
    return TokenlatApp(store=store, backend=backend, backend_options=backend_options, clock=clock)
