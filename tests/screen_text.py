"""What a widget shows on screen, as text: the rendered cells of its region, not its data.

The one place tests reach into Textual's compositor (a private API, kept here alone)."""

from __future__ import annotations


def region_lines(app, widget) -> list[str]:
    """The lines of the screen inside `widget`'s region (border included), as rendered now."""
    strips = app.screen._compositor.render_strips()
    region = widget.region.intersection(app.screen.region)
    return [strips[y].crop(region.x, region.right).text for y in range(region.y, region.bottom)]


def screen_lines(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def joined(lines: list[str]) -> str:
    """Lines with the box-drawing edges and runs of spaces removed: wrapped text reads as one sentence."""
    words = []
    for line in lines:
        words += line.strip("│┃║▌▐ ").replace("│", " ").split()
    return " ".join(words)
