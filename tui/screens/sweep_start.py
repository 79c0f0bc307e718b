"""Starting a sweep from the app (n on the sweep screen): the CLI's own `sweep` in a process of its own.

The sweep runs as `python -m tui sweep FLAGS` on the app's store, in its own session (it outlives the
app, as a run left in the background does), so the timed loop never shares an interpreter with the
UI. The flags are the CLI's, checked by the CLI: a bad one ends the process with its one error line,
which the app shows as a notification. The screen re-reads the store while the process runs.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

DEFAULT_FLAGS = "--batch 1,8 --max-new-tokens 16,32 --precision fp32,int8 --prompt-count 8"


class SweepProcess:
    """One sweep started from the app: its process and where its error line goes."""

    def __init__(self, flags: str, data_dir: Path) -> None:
        argv = shlex.split(flags)  # ValueError on an unclosed quote: the caller says so
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        # the child imports the very code this app runs, wherever it was started from
        code_root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(filter(None, [code_root, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "TOKENLAT_DATA_DIR": str(data_dir), "PYTHONPATH": path}
        self.process = subprocess.Popen([sys.executable, "-m", "tui", "sweep", *argv], env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                        start_new_session=True)

    def poll(self) -> int | None:
        return self.process.poll()

    def error_line(self) -> str:
        """The CLI's `tokenlat-tui: error: …` line, else its last line on stderr."""
        self._stderr.seek(0)
        lines = [line.strip() for line in self._stderr.read().splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("tokenlat-tui:")]
        return (errors or lines or [f"exit status {self.process.returncode}"])[-1]

    def close(self) -> None:
        self._stderr.close()


class SweepFlagsScreen(ModalScreen[str | None]):
    """Asks for the sweep's flags; dismisses with them, or None on escape."""

    DEFAULT_CSS = """
    SweepFlagsScreen { align: center middle; }
    SweepFlagsScreen > Vertical { width: 90%; height: auto; border: thick $primary; background: $surface;
                                  padding: 1 2; }
    SweepFlagsScreen Label { width: 1fr; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Start a sweep with these `tokenlat-tui sweep` flags (enter starts, escape cancels):")
            yield Input(DEFAULT_FLAGS, id="sweep-flags")

    def on_mount(self) -> None:
        self.query_one("#sweep-flags", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = ["DEFAULT_FLAGS", "SweepFlagsScreen", "SweepProcess"]
