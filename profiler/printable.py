"""Outside text made safe to draw: control characters shown, never sent to the terminal.

The one function every printer uses for text that came from outside (a CSV, a server's reply or
error, a model's output, a stored prompt): CLI tables, the app's widgets, `watch`, notifications.
A random-weights model emits arbitrary bytes, and an imported CSV can hold escape sequences; ESC and friends would corrupt the screen (and made
exported SVG screenshots invalid XML). Newlines and tabs stay; other C0/C1 controls become their
visible Unicode 'control picture' or a \\xNN escape. A combining mark with nothing to combine with
(at the start of the text or of a line: garbled model output has them) is given a dotted-circle base
(U+25CC, as Unicode shows a lone mark): a terminal draws a lone mark a cell wide where rich and
Textual measure it as nothing, which pushed a panel's right border off the screen.
"""

from __future__ import annotations

import re
import unicodedata

_KEEP = {"\n", "\t"}
_TABLE = {code: (chr(0x2400 + code) if code < 0x20 else f"\\x{code:02x}")
          for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)] if chr(code) not in _KEEP}
_TABLE[0x7F] = "\u2421"


_LINE_BREAK = re.compile("[\n\t]")
DOTTED_CIRCLE = "\u25cc"
"""The base a lone combining mark is drawn on."""


def _is_mark(char: str) -> bool:
    return unicodedata.category(char) in ("Mn", "Me")


def _based(text: str) -> str:
    """A dotted circle before each combining mark that starts the text or a line (after a newline or tab)."""
    if not text:
        return text
    starts = [0] if _is_mark(text[0]) else []
    starts += [m.end() for m in _LINE_BREAK.finditer(text, 0, len(text) - 1) if _is_mark(text[m.end()])]
    if not starts:
        return text
    pieces, last = [], 0
    for start in starts:
        pieces += [text[last:start], DOTTED_CIRCLE]
        last = start
    pieces.append(text[last:])
    return "".join(pieces)


def printable(text: str) -> str:
    """`text` with every C0/C1 control but newline and tab made visible (ESC shows as U+241B), and a
    lone combining mark at a line's start given a base."""
    return _based(text.translate(_TABLE))


_ONE_LINE = {**_TABLE, ord("\n"): "\u2424", ord("\t"): "\u2409"}


def printable_line(text: str) -> str:
    """`printable`, with newline and tab made visible too: for a table cell or a one-line message."""
    return _based(text.translate(_ONE_LINE))
