"""The slowest decode tokens of a session, each with what was recorded beside it (model/spikes.py).

Focused (tab), ↑/↓ highlight one token: the detail screen then shows the profiled pass's step at the
same k. Nothing is highlighted until the user moves, so the list reads as before until asked.
"""

from __future__ import annotations

from typing import Sequence

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from model.spikes import Spike
from tui.spike_table import spike_table, spike_title


class SpikeList(Static, can_focus=True):
    """A rich table whose cause column wraps: readable at 80 columns without sideways scrolling."""

    DEFAULT_CSS = """
    SpikeList { height: auto; width: 1fr; }
    """
    BINDINGS = [
        Binding("down", "move(1)", "next token", show=False),
        Binding("up", "move(-1)", "previous token", show=False),
    ]

    class Highlighted(Message):
        """A spike row was highlighted: its token."""

        def __init__(self, spike: Spike) -> None:
            super().__init__()
            self.spike = spike

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.spikes: list[Spike] = []
        self.selected: int | None = None
        self._title = ""

    def show_spikes(self, spikes: Sequence[Spike], median_ms: float | None, session_id: str) -> None:
        self.spikes = list(spikes)
        self.selected = None
        self._title = spike_title(self.spikes, median_ms, session_id)
        self.update(spike_table(self.spikes, self._title))

    def select(self, index: int) -> None:
        """Highlight row `index` (clamped to the list) and tell the screen which token it is."""
        if not self.spikes:
            return
        self.selected = max(0, min(index, len(self.spikes) - 1))
        self.update(spike_table(self.spikes, self._title, self.selected))
        self.post_message(self.Highlighted(self.spikes[self.selected]))

    def action_move(self, step: int) -> None:
        self.select(0 if self.selected is None else self.selected + step)
