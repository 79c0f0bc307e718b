"""The slowest decode tokens of a session, each with what was recorded beside it (model/spikes.py)."""

from __future__ import annotations

from typing import Sequence

from textual.widgets import Static

from model.spikes import Spike
from tui.spike_table import spike_table, spike_title


class SpikeList(Static):
    """A rich table whose cause column wraps: readable at 80 columns without sideways scrolling."""

    DEFAULT_CSS = """
    SpikeList { height: auto; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.spikes: list[Spike] = []

    def show_spikes(self, spikes: Sequence[Spike], median_ms: float | None, session_id: str) -> None:
        self.spikes = list(spikes)
        self.update(spike_table(self.spikes, spike_title(self.spikes, median_ms, session_id)))
