"""A checkbox whose state reads without colour: ▐X▌ ticked, ▐ ▌ not.

Textual's Checkbox draws the same X either way and tells the states apart by colour only, which a
monochrome terminal, a colour-blind user or a screenshot in print loses.
"""

from __future__ import annotations

from textual.widgets import Checkbox


class StateCheckbox(Checkbox):
    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - the name Textual's ToggleButton draws from
        return "X" if self.value else " "


__all__ = ["StateCheckbox"]
