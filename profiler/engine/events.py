"""The engine's event writer: the timed loop hands events over and never waits for a reader.

The token hook runs on the decoding thread between tokens. All it does is `deque.append` (atomic
under the GIL: no lock, no allocation beyond the deque's block, no I/O). A writer thread wakes
every COALESCE_S (or at once for a low-rate event such as a session ending), drains the deque in
order, and sends each run of tokens as ONE `tokens` event: at 200 tokens/s that is 10 small writes
a second instead of 200. Tokens and control events share the deque, so a session's tokens can
never overtake its `session_started` nor trail its `session_ended`.

A reader that has gone away (EPIPE on the engine's stdout when the app's terminal hung up) makes
the sink raise; the stream then drops everything from that point and reports it once through
`on_broken`, while the engine carries on: the store, not the pipe, is what keeps the data.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable

from profiler.engine.protocol import token_to_list
from profiler.records import TokenRecord

COALESCE_S = 0.1
"""Tokens are batched for this long: the app redraws at <= 10 Hz, so finer batches buy nothing."""


class EventStream:
    def __init__(self, sink: Callable[[dict[str, Any]], None], *, on_broken: Callable[[], None] | None = None,
                 coalesce_s: float = COALESCE_S) -> None:
        self._sink = sink
        self._on_broken = on_broken
        self._coalesce_s = coalesce_s
        self._items: deque = deque()
        """TokenRecords and event dicts, in the order they happened."""
        self._wake = threading.Event()
        self._closing = False
        self._session_id: str | None = None
        self.sample_source: Callable[[], Any] | None = None
        """The running session's latest GPU/CPU sample, sent along with each batch of tokens."""
        self.broken = False
        """The sink failed (the reader is gone): events are dropped from then on."""
        self._thread = threading.Thread(target=self._run, name="engine-events", daemon=True)
        self._thread.start()

    # -- producers
    def token(self, record: TokenRecord) -> None:
        """Called on the timing thread: one atomic append, nothing else."""
        self._items.append(record)

    def session_token(self, session_id: str, record: TokenRecord) -> None:
        """A token of one of several sessions streaming at once (a remote run): it names its session."""
        self._items.append((session_id, record))

    def emit(self, event: dict[str, Any]) -> None:
        """A low-rate event (load progress, a session starting or ending): sent promptly, in order."""
        self._items.append(event)
        self._wake.set()

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued, then stop the writer thread."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)

    # -- the writer thread
    def _run(self) -> None:
        while True:
            self._wake.wait(self._coalesce_s)
            self._wake.clear()
            closing = self._closing  # read before draining: whatever was queued before close() is sent
            self._drain()
            if closing:
                return

    def _drain(self) -> None:
        items = self._items
        # tokens by session since the last control event: concurrent streams interleave token by
        # token, and one event per session per drain keeps the writes as few as for one stream
        batches: dict[str | None, list[list]] = {}
        while items:
            item = items.popleft()
            if isinstance(item, TokenRecord):
                batches.setdefault(self._session_id, []).append(token_to_list(item))
                continue
            if isinstance(item, tuple):
                batches.setdefault(item[0], []).append(token_to_list(item[1]))
                continue
            self._send_batches(batches)
            if item.get("type") == "session_started":
                self._session_id = item["session_id"]
            self._send(item)
        self._send_batches(batches)

    def _send_batches(self, batches: dict[str | None, list[list]]) -> None:
        for session_id, batch in batches.items():
            self._send_tokens(batch, session_id)
        batches.clear()

    def _send_tokens(self, batch: list[list], session_id: str | None) -> None:
        source = self.sample_source
        sample = source() if source is not None else None
        self._send({"type": "tokens", "session_id": session_id, "records": batch, "sample": sample})

    def _send(self, event: dict[str, Any]) -> None:
        if self.broken:
            return
        try:
            self._sink(event)
        except (BrokenPipeError, ConnectionError, OSError, ValueError):
            # OSError: EPIPE/EIO once the reader is gone; ValueError: a closed file object
            self.broken = True
            if self._on_broken is not None:
                self._on_broken()
