"""Small modal questions: yes/no, and a path to export to.

Their text wraps inside the box (a Label is as wide as its text by default, and the box cut it to
one line): `width: 1fr` on every Label here.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True for yes (y / enter on Yes), False for no (n / escape)."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 64; max-width: 96%; height: auto; border: thick $warning; background: $surface;
                               padding: 1 2; }
    ConfirmScreen Label { width: 1fr; }
    ConfirmScreen Horizontal { height: auto; align: center middle; margin-top: 1; }
    ConfirmScreen Button { margin: 0 1; }
    """
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            with Horizontal():
                yield Button("Yes (y)", variant="warning", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class ExportPathScreen(ModalScreen[str | None]):
    """Asks where to write the CSV; dismisses with the path, or None on escape."""

    DEFAULT_CSS = """
    ExportPathScreen { align: center middle; }
    ExportPathScreen > Vertical { width: 80%; max-width: 90; height: auto; border: thick $primary;
                                  background: $surface; padding: 1 2; }
    ExportPathScreen Label { width: 1fr; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str, default_path: str) -> None:
        super().__init__()
        self.what = what
        self.default_path = default_path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Export {self.what} to CSV (enter writes, escape cancels):")
            yield Input(self.default_path, id="export-path")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


QUIT_STOP = "stop"
QUIT_BACKGROUND = "background"
QUIT_QUESTION = ("A run is active. Stop it (the session is kept as interrupted), or leave it running in "
                 "the background (the engine finishes it, stores it finished, then exits)?")


class QuitRunScreen(ModalScreen[str | None]):
    """Quitting mid-run: stop the run (stored interrupted), or leave it running in the background
    (the engine completes it, stores it finished, and exits; any app can attach to it meanwhile)."""

    DEFAULT_CSS = """
    QuitRunScreen { align: center middle; }
    QuitRunScreen > Vertical { width: 72; max-width: 96%; height: auto; border: thick $warning; background: $surface;
                               padding: 1 2; }
    QuitRunScreen Label { width: 1fr; }
    QuitRunScreen Horizontal { height: auto; align: center middle; margin-top: 1; }
    QuitRunScreen Button { margin: 0 1; }
    """
    BINDINGS = [Binding("s", "answer('stop')", "Stop"), Binding("b", "answer('background')", "Background"),
                Binding("escape,n", "answer(None)", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(QUIT_QUESTION)
            with Horizontal():
                yield Button("Stop it (s)", variant="warning", id=QUIT_STOP)
                yield Button("Leave it running (b)", variant="primary", id=QUIT_BACKGROUND)
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id if event.button.id in (QUIT_STOP, QUIT_BACKGROUND) else None)
