"""Messages that cross widgets, named as facts. Widget-local messages live in their widget class.

The run controller posts them from the engine client's thread (`post_message` is thread-safe and
never blocks). Tokens are not messages: they land in the live session's buffer and the screen pulls
what is new on its redraw timer (<= 10 Hz), however fast they come.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class BackendLoadProgressed(Message):
    """The engine's model load moved on."""

    what: str
    fraction: float


@dataclass
class BackendLoaded(Message):
    info: Any
    """The loaded model's `profiler.backends.BackendInfo` (the model itself lives in the engine)."""


@dataclass
class BackendLoadFailed(Message):
    error: str
    """One line naming the problem."""


@dataclass
class PromptCounted(Message):
    """The engine counted a prompt's tokens (the tokenizer lives with the model, in the engine)."""


@dataclass
class SessionStarted(Message):
    """The engine wrote a new session row; its tokens follow in the live buffer."""

    session_id: str
    input_tokens: int
    warmup: bool


@dataclass
class SessionSaved(Message):
    """A session reached its final status (finished, interrupted or failed) on disk."""

    session_id: str
    status: str
    error: str | None = None
    warmup: bool = False
    """A warm-up generation: shown, but not worth a refit."""


@dataclass
class RunFinished(Message):
    """The engine is done with every generation of a run (or refused or gave up on it)."""

    error: str | None = None
    refused: bool = False
    """The run never started (e.g. the prompt is too long for the model): nothing was stored."""


@dataclass
class EngineExited(Message):
    """The engine process ended without being asked to (a crash, SIGKILL, out of memory)."""

    code: int | None


@dataclass
class SessionsChanged(Message):
    """Sessions were deleted or imported: tables and fits must reload."""
