"""Warm-up sessions left out of comparisons and fits, and the line that says so.

A warm-up pays lazy initialisation, allocator growth and compilation (FIELD-NOTES, pitfall 2): its
figures are not the configuration's. `compare` (CLI and app) and the app's fit leave warm-ups out
unless asked (`--include-warmup`), and always say what they left out: dropping a session the
user named without a word reads as a miscount ("1 marked session" when two were marked).
"""

from __future__ import annotations

from typing import Any, Iterable


def without_warmups(sessions: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(measured sessions, warm-ups), each in the order given."""
    kept, warmups = [], []
    for session in sessions:
        (warmups if session.get("warmup") else kept).append(session)
    return kept, warmups


def left_out_line(warmups: list[dict[str, Any]], *, flag: str | None = "--include-warmup") -> str:
    """`left out 2 warm-up sessions (a1b2c3d4, e5f6a7b8); --include-warmup counts them` ('' for none)."""
    if not warmups:
        return ""
    count = len(warmups)
    ids = ", ".join(str(s["id"])[:8] for s in warmups[:4]) + (", …" if count > 4 else "")
    line = f"left out {count} warm-up session{'' if count == 1 else 's'} ({ids})"
    if flag:
        line += f"; {flag} counts {'it' if count == 1 else 'them'}"
    return line


__all__ = ["left_out_line", "without_warmups"]
