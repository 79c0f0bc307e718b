"""What a view of a remote run is told (the app's engine turns it into events), and when.

Every hook runs on the store sink's receiver thread, never on the event loop that stamps arrivals, so a
view costs the stamps nothing. `token` gives provisional records as chunks arrive: a chunk whose
token count the server doesn't give counts one until the stream ends, when `tokens_final` gives
what was stored (counted from the whole text, maybe with a local tokenizer). Concurrent streams
interleave: every hook names its session.
"""

from __future__ import annotations

from profiler.collect import RunObserver
from profiler.records import TokenRecord


class RemoteObserver(RunObserver):
    def tokens_final(self, session_id: str, records: list[TokenRecord]) -> None:
        """The session's stored tokens, replacing the provisional ones; called just before session_ended."""
