"""Errors that reach the user as one clear line (CLI: non-zero exit; app: a notification)."""

from __future__ import annotations


def first_line(exc: BaseException, limit: int | None = 500) -> str:
    """An exception as the one line a user sees (its type name when it has no message), at most `limit`
    characters (None: the whole line)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


class ProfilerError(Exception):
    """A problem the user can act on; its message is the one line they see."""


class StoreError(ProfilerError):
    """The session store can't be opened or written (corrupt, foreign, unwritable)."""


class BackendError(ProfilerError):
    """The model can't be loaded or run as asked (missing folder, offline hub id, bad quant)."""


class InputError(ProfilerError):
    """A bad argument or prompt (empty prompt, --max-new-tokens 0, prompt longer than context)."""


class CsvFormatError(ProfilerError):
    """A CSV that can't be imported; the message names the line."""
