"""Messages that cross widgets, named as facts. Widget-local messages live in their widget class.

The decoding thread posts only the low-rate ones (a session started, ended); tokens are pulled
from the run's buffer by the UI on a timer, so the timing thread never waits for the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class BackendLoadProgressed(Message):
    """The background model load moved on."""

    what: str
    fraction: float


@dataclass
class BackendLoaded(Message):
    backend: Any
    """The loaded `profiler.backends.Backend`."""


@dataclass
class BackendLoadFailed(Message):
    error: str
    """One line naming the problem."""


@dataclass
class SessionStarted(Message):
    """The collector wrote a new session row; its tokens follow in the run buffer."""

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
    """The worker is done with every generation of a run (or gave up on it)."""

    error: str | None = None


@dataclass
class SessionsChanged(Message):
    """Sessions were deleted or imported: tables and fits must reload."""
