"""A remote server run inside the engine: the same `RemoteRun` as `collect --server`, its events streamed.

Running it in the engine (not in the app) gives a remote run what a local one has: it writes the
store itself, and a dropped SSH link that ends the app doesn't end the run (see __main__.py). With
concurrency N the N streams are N sessions grouped by one run id; their tokens interleave, so
every `tokens` event names its session. A stream's tokens arrive provisional (a chunk the server
didn't count counts one) and are replaced (`replace: true`) by the stored ones when it ends.
"""

from __future__ import annotations

from typing import Any

from profiler.engine.events import EventStream
from profiler.engine.protocol import token_to_list
from profiler.records import SessionMeta, TokenRecord
from profiler.remote.observer import RemoteObserver


class RemoteStreamObserver(RemoteObserver):
    """The sink's hooks (on its receiver thread, never the stamping loop), turned into engine events."""

    def __init__(self, events: EventStream, max_new_tokens: int, concurrency: int) -> None:
        self.events = events
        self.max_new_tokens = max_new_tokens
        self.concurrency = concurrency
        self.token = events.session_token

    def session_started(self, session_id: str, meta: SessionMeta) -> None:
        self.events.emit({"type": "session_started", "session_id": session_id, "input_tokens": meta.input_tokens,
                          "warmup": meta.warmup, "max_new_tokens": self.max_new_tokens, "timing": "arrival",
                          "run_id": (meta.settings or {}).get("run_id"), "concurrency": self.concurrency})

    def tokens_final(self, session_id: str, records: list[TokenRecord]) -> None:
        self.events.emit({"type": "tokens", "session_id": session_id, "replace": True,
                          "records": [token_to_list(record) for record in records]})

    def session_ended(self, outcome) -> None:
        self.events.emit({"type": "session_ended", "session_id": outcome.session_id, "status": outcome.status,
                          "error": outcome.error, "warmup": outcome.warmup, "tokens": outcome.tokens})


def remote_options(fields: dict[str, Any]):
    """RemoteOptions from the command's fields, checked (a bad URL, a missing key variable: InputError)."""
    from profiler.remote.options import RemoteOptions

    options = RemoteOptions(**fields)
    options.validate()
    return options


def run_remote(options, store, events: EventStream, settings, prompt: str, cancel) -> None:
    """Load the remote backend (the tokenizer, if named, loads here: off the caller's thread) and run.
    Raises what `RemoteRun` raises: the engine reports it as the run's error."""
    from profiler.remote.backend import load_remote_backend
    from profiler.remote.runner import RemoteRun

    backend = load_remote_backend(options)
    try:
        observer = RemoteStreamObserver(events, settings.max_new_tokens, options.concurrency or 1)
        RemoteRun(backend, store, settings, cancel=cancel, observer=observer).run([prompt])
    finally:
        backend.close()
