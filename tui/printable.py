"""Model output made safe to draw: control characters shown, never sent to the terminal.

A random-weights model emits arbitrary bytes; ESC and friends would corrupt the screen (and made
exported SVG screenshots invalid XML). Newlines and tabs stay; other C0/C1 controls become their
visible Unicode 'control picture' or a \\xNN escape.
"""

from __future__ import annotations

_KEEP = {"\n", "\t"}
_TABLE = {code: (chr(0x2400 + code) if code < 0x20 else f"\\x{code:02x}")
          for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)] if chr(code) not in _KEEP}
_TABLE[0x7F] = "\u2421"


def printable(text: str) -> str:
    return text.translate(_TABLE)
