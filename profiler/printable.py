"""Outside text made safe to draw: control characters shown, never sent to the terminal.

The one function every printer uses for text that came from outside (a CSV, a server's reply or
error, a model's output, a stored prompt): CLI tables, the app's widgets, `watch`, notifications.
A random-weights model emits arbitrary bytes, and an imported CSV can hold escape sequences; ESC and friends would corrupt the screen (and made
exported SVG screenshots invalid XML). Newlines and tabs stay; other C0/C1 controls become their
visible Unicode 'control picture' or a \\xNN escape.
"""

from __future__ import annotations

_KEEP = {"\n", "\t"}
_TABLE = {code: (chr(0x2400 + code) if code < 0x20 else f"\\x{code:02x}")
          for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)] if chr(code) not in _KEEP}
_TABLE[0x7F] = "\u2421"


def printable(text: str) -> str:
    """`text` with every C0/C1 control but newline and tab made visible (ESC shows as U+241B)."""
    return text.translate(_TABLE)


_ONE_LINE = {**_TABLE, ord("\n"): "\u2424", ord("\t"): "\u2409"}


def printable_line(text: str) -> str:
    """`printable`, with newline and tab made visible too: for a table cell or a one-line message."""
    return text.translate(_ONE_LINE)
