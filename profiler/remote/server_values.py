"""What a server's reply may put in the store: every number and string checked before it is kept.

A server is outside input like a CSV. A count of 2.5 stored in an INTEGER column broke every later
`sessions`; NaN or a negative count became 0 tokens from 10 chunks; 10**18 "tokens" in one chunk
had the client allocate records until memory ran out. So:

- a value's *type and range* are checked as the event is read (`count`, `text`, `label`): a bad one
  is an EventError, and the stream ends `failed` with its chunks and one line naming the field;
- a well-formed count is *believed* only within what the text can hold (`refusal`): no more tokens
  than the text has bytes (every token decodes to at least one byte, special tokens aside) and no
  more than --max-new-tokens, each plus COUNT_MARGIN (an end-of-sequence token the text doesn't show,
  a server that counts a stop token). Beyond that the chunks keep their own count and the session
  says the server's was refused, and why.
"""

from __future__ import annotations

import math
from typing import Any

from profiler.printable import printable_line
from profiler.store.schema import SQLITE_MAX_INTEGER

COUNT_MARGIN = 8
"""Tokens a server may count beyond the text's bytes or --max-new-tokens (stop/EOS tokens)."""
LABEL_CHARS = 200
"""A model name or finish_reason longer than this is cut (it is shown and stored, never needed whole)."""


class EventError(Exception):
    """The server sent an error event, or an event that isn't what the API says."""


def shown(value: Any) -> str:
    """A server's value in an error line: short, one line, control characters visible."""
    text = repr(value) if isinstance(value, (str, bytes)) else str(value)
    return printable_line(text[:60] + ("…" if len(text) > 60 else ""))


def count(value: Any, field: str) -> int:
    """A token count or a duration in ns: a JSON integer from 0 to SQLite's largest (not a bool, float,
    string, NaN or negative number)."""
    if type(value) is int and 0 <= value <= SQLITE_MAX_INTEGER:  # bool is an int subclass: `type` keeps it out
        return value
    if isinstance(value, float) and not math.isfinite(value):
        why = "not a finite number"
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        why = "negative"
    elif type(value) is int:
        why = "beyond what a store can hold"
    else:
        why = "not a whole number"
    raise EventError(f"the server sent {field} = {shown(value)} ({why}; a count must be a whole number >= 0)")


def text(value: Any, field: str) -> str:
    """Generated text: a string (null and absent read as empty)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EventError(f"the server sent {field} = {shown(value)} (not a string)")
    return value


def label(value: Any) -> str | None:
    """A model name or finish reason: kept only when it is a string, cut to LABEL_CHARS."""
    return value[:LABEL_CHARS] if isinstance(value, str) and value else None


def count_limit(text_bytes: int, max_new_tokens: int | None) -> int:
    """The most tokens a stream's text of `text_bytes` UTF-8 bytes can hold."""
    limit = text_bytes if max_new_tokens is None else min(text_bytes, max_new_tokens)
    return limit + COUNT_MARGIN


def refusal(claimed: int, text_bytes: int, max_new_tokens: int | None, field: str) -> str | None:
    """Why the server's count can't be believed, or None when it can."""
    if claimed <= count_limit(text_bytes, max_new_tokens):
        return None
    if max_new_tokens is not None and max_new_tokens < text_bytes:
        held = f"--max-new-tokens {max_new_tokens}"
    else:
        held = f"{text_bytes} bytes of text"
    return (f"server count refused: {field} {claimed} is more than {held} can hold "
            f"(+{COUNT_MARGIN}); counted from the chunks")
