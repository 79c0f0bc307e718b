"""The bridge between the decoding thread and the UI thread.

The collector calls `LiveRun`'s hooks on its own thread between tokens. Token hooks only append to
a list (a GIL-atomic operation: no lock, no wait); the UI pulls what is new on a 20 Hz timer.
Low-rate events (a session started or ended) go through `post_message`, which is thread-safe and
never blocks. `call_from_thread` is never used here: it would make the timing thread wait for a
UI frame.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from profiler.collect import RunObserver, SessionOutcome
from profiler.records import SessionMeta, TokenRecord
from tui.messages import SessionSaved, SessionStarted


@dataclass
class LiveRun(RunObserver):
    """One run's shared state: the cancel switch and the token buffer of the current session."""

    poster: Any
    """Anything with a thread-safe `post_message` (the main screen)."""
    cancel: threading.Event = field(default_factory=threading.Event)
    session_id: str | None = None
    """The session whose tokens `records` holds."""
    records: list[TokenRecord] = field(default_factory=list)
    collector: Any = None
    """The running `Collector` (its `sampler.latest` feeds the live GPU/CPU figures)."""

    def session_started(self, session_id: str, meta: SessionMeta) -> None:
        # a fresh list, not .clear(): the UI may be reading the old one right now
        self.records = []
        self.session_id = session_id
        self.poster.post_message(SessionStarted(session_id, meta.input_tokens, meta.warmup))

    def token(self, session_id: str, record: TokenRecord) -> None:
        self.records.append(record)

    def session_ended(self, outcome: SessionOutcome) -> None:
        self.poster.post_message(SessionSaved(outcome.session_id, outcome.status, outcome.error, outcome.warmup))

    def latest_sample(self) -> tuple | None:
        sampler = getattr(self.collector, "sampler", None)
        return None if sampler is None else sampler.latest
