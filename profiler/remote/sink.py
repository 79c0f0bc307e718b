"""The store writer for remote runs, on its own thread: the event loop only appends messages to a deque.

Arrival stamps are taken on the event loop, so nothing slow may run there: SQLite commits (and
the fsyncs they imply) happen on this thread. The thread polls the deque every POLL_S instead of
being woken per message: a wake-up per chunk cost ~40 us of GIL hand-over on the loop (measured
with cProfile at 32 streams). Chunks are committed every FLUSH_EVERY_S while streams run, so a
killed process leaves every chunk that arrived more than that long before.

Everything per chunk is deferred to that flush: a chunk's message only appends its row. The
provisional tokens are derived from the rows at the flush and committed with them, every
session's in ONE transaction. Deriving per chunk (and committing each session's tokens on its own
connection) held the GIL the event loop needs for its reads: at 32 streams, 5 ms apart, the loop
then fell behind, the kernel merged a stream's queued chunks into one packet with the later
stamp, and gap error p99 went from 0.1 ms to 5-6 ms (benchmarks/remote_client.py).
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from profiler.collect import SessionOutcome
from profiler.records import SessionMeta, TokenRecord
from profiler.remote.accounting import TokenDeriver
from profiler.store import SessionStore
from profiler.store.chunks import CHUNK_INSERT, REMOTE_INSERT, begin_run, end_run, mark_remote, remote_row, \
    write_in_transaction
from profiler.store.connection import open_connection
from profiler.store.session_rows import TOKEN_INSERT, token_row
from profiler.store.writer import FLUSH_EVERY_S

POLL_S = 0.05


@dataclass
class _Open:
    writer: Any
    remote: dict[str, Any]
    chunks: list[tuple] = field(default_factory=list)
    """Chunk rows not yet committed."""
    unwritten: list[tuple] = field(default_factory=list)
    """(row, prompt_tokens, wall_at_sent) of chunks whose provisional tokens aren't derived yet."""
    deriver: TokenDeriver | None = None
    live: bool = True
    """Every content chunk so far carried its own token count, so tokens can be written as they come."""
    live_tokens: int = 0
    warmup: bool = False
    shown: TokenDeriver | None = None
    """Provisional tokens for an observer (a live view): a chunk the server didn't count counts one."""


Finalizer = Callable[[], "tuple[list[TokenRecord], dict[str, Any], dict[str, Any]]"]
"""Run on the sink's thread when a stream ends: (token records, remote_sessions values, session column
updates). Counting tokens (maybe with a tokenizer) and deriving latencies stay off the event loop."""


class StoreSink:
    """Owns every SessionWriter of a run. Methods are called from the event loop and only enqueue.

    An `observer` (a `RemoteObserver`: the app's engine) is called on this thread, never on the loop:
    session_started, token (provisional, as chunks arrive), tokens_final (what was stored once the
    stream ended and its tokens were counted), session_ended.
    """

    def __init__(self, store: SessionStore, observer=None) -> None:
        self.store = store
        self.observer = observer
        self._queue: collections.deque = collections.deque()  # append/popleft are atomic: no lock, no wake-up
        self._stop = threading.Event()
        self._open: dict[int, _Open] = {}
        self.session_ids: dict[int, str] = {}
        """request key -> session id, filled in by the thread (read after close())."""
        self._started = threading.Event()
        self.error: BaseException | None = None
        self._conn = None
        self._thread = threading.Thread(target=self._run, name="tokenlat-remote-sink", daemon=True)
        self._thread.start()

    # -- called on the event loop: cheap
    def begin_run(self, run_id: str, settings: dict[str, Any]) -> None:
        self._queue.append(("run", run_id, settings))

    def begin(self, key: int, meta: SessionMeta, run_id: str | None, remote: dict[str, Any]) -> None:
        self._queue.append(("begin", key, meta, run_id, remote))

    def chunk(self, key: int, row: tuple, prompt_tokens: int | None, wall_at_sent: float) -> None:
        """row: (n, arrival_ms, gap_ms, tokens, content, text, gc_collections); arrival_ms since the request was sent."""
        self._queue.append(("chunk", key, row, prompt_tokens, wall_at_sent))

    def end(self, key: int, status: str, error: str | None, finalize: Finalizer | None,
            stop_reason: str | None = None) -> None:
        self._queue.append(("end", key, status, error, finalize, stop_reason))

    def end_run(self, run_id: str, summary: dict[str, Any]) -> None:
        self._queue.append(("run_end", run_id, summary))

    def close(self) -> None:
        """Write everything queued, finish any session still open (as interrupted), stop the thread."""
        self._stop.set()
        self._thread.join()

    # -- the writer thread
    def _run(self) -> None:
        last_flush = time.monotonic()
        queue = self._queue
        while True:
            stopping = self._stop.wait(POLL_S)
            while queue:
                self._safely(self._handle, queue.popleft())
            if stopping:
                self._safely(self._close_all)
                return
            if time.monotonic() - last_flush >= FLUSH_EVERY_S:
                self._safely(self._flush_all)
                last_flush = time.monotonic()

    def _safely(self, action, *args) -> None:
        if self.error is not None:
            return  # the store failed (full disk?): the first error is reported, later writes dropped
        try:
            action(*args)
        except BaseException as exc:  # noqa: BLE001 - reported by the runner once the streams end
            self.error = exc

    def _connection(self):
        if self._conn is None:
            self._conn = open_connection(self.store.path)
        return self._conn

    def _handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "run":
            begin_run(self._connection(), message[1], message[2])
        elif kind == "begin":
            _, key, meta, run_id, remote = message
            writer = self.store.begin_session(meta)
            self.session_ids[key] = writer.session_id
            self._open[key] = _Open(writer, remote, warmup=meta.warmup)
            mark_remote(self._connection(), writer.session_id, run_id)
            self._tell("session_started", writer.session_id, meta)
        elif kind == "chunk":
            _, key, row, prompt_tokens, wall_at_sent = message
            entry = self._open[key]
            entry.chunks.append((entry.writer.session_id, *row))
            if entry.live:
                entry.unwritten.append((row, prompt_tokens, wall_at_sent))
            if self.observer is not None:
                self._show(entry, row, prompt_tokens, wall_at_sent)
        elif kind == "end":
            _, key, status, error, finalize, stop_reason = message
            self._finish(key, status, error, finalize, stop_reason)
        elif kind == "run_end":
            end_run(self._connection(), message[1], message[2])

    def _live_token_rows(self, entry: _Open) -> list[tuple]:
        """Token rows of the chunks that arrived since the last flush, while every chunk so far said how
        many tokens it holds. They are provisional: when the stream ends they are replaced by the final
        count (which may need the whole text), so a killed process still leaves tokens, and a finished
        one the right ones."""
        rows: list[tuple] = []
        session_id = entry.writer.session_id
        for (_n, arrival_ms, _gap, tokens, content, text, gcs), prompt_tokens, wall_at_sent in entry.unwritten:
            if not content:
                continue
            if tokens is None:
                entry.live = False
                break
            if entry.deriver is None:
                entry.deriver = TokenDeriver(input_tokens=prompt_tokens or 0, wall_at_sent=wall_at_sent)
            rows += [token_row(session_id, record) for record in entry.deriver.add(arrival_ms, tokens, text, True, gcs)]
        entry.unwritten = []
        entry.live_tokens += len(rows)
        return rows

    def _show(self, entry: _Open, row: tuple, prompt_tokens: int | None, wall_at_sent: float) -> None:
        _n, arrival_ms, _gap, tokens, content, text, gcs = row
        if not content:
            return
        if entry.shown is None:
            entry.shown = TokenDeriver(input_tokens=prompt_tokens or 0, wall_at_sent=wall_at_sent)
        session_id = entry.writer.session_id
        for record in entry.shown.add(arrival_ms, 1 if tokens is None else tokens, text, True, gcs):
            self._tell("token", session_id, record)

    def _tell(self, hook: str, *args) -> None:
        """An observer that fails is dropped: a view's trouble must never stop the store being written."""
        if self.observer is None:
            return
        try:
            getattr(self.observer, hook)(*args)
        except Exception:  # noqa: BLE001
            self.observer = None

    def _flush_all(self) -> None:
        """Every open stream's new chunk rows and provisional tokens, in one transaction."""
        chunks = [row for entry in self._open.values() for row in entry.chunks]
        tokens = [row for entry in self._open.values() for row in self._live_token_rows(entry)]
        if chunks or tokens:
            write_in_transaction(self._connection(), [(CHUNK_INSERT, chunks), (TOKEN_INSERT, tokens)])
        for entry in self._open.values():
            entry.chunks = []

    def _finish(self, key: int, status: str, error: str | None, finalize: Finalizer | None,
                stop_reason: str | None = None) -> None:
        entry = self._open.pop(key)
        session_id = entry.writer.session_id
        tokens, remote, updates = finalize() if finalize else (None, {}, {})
        live = self._live_token_rows(entry) if tokens is None else []  # no final count: the provisional ones stay
        statements = [(CHUNK_INSERT, entry.chunks), (TOKEN_INSERT, live),
                      (REMOTE_INSERT, [remote_row({**entry.remote, **remote, "session_id": session_id})])]
        if entry.live_tokens and tokens is not None:  # provisional tokens on disk: the final ones replace them
            statements.append(("DELETE FROM tokens WHERE session_id=?", [(session_id,)]))
        if updates:
            columns = sorted(updates)
            statements.append((f"UPDATE sessions SET {', '.join(c + '=?' for c in columns)} WHERE id=?",
                               [(*[updates[c] for c in columns], session_id)]))
        write_in_transaction(self._connection(), statements)
        entry.chunks = []
        for record in tokens or []:
            entry.writer.add_token(record)
        entry.writer.finish(status, error)
        if tokens is not None:
            self._tell("tokens_final", session_id, tokens)
        count = 0 if entry.warmup else len(tokens) if tokens is not None else entry.live_tokens
        self._tell("session_ended", SessionOutcome(session_id, status, stop_reason, entry.warmup, count, error))

    def _close_all(self) -> None:
        try:
            for key in list(self._open):
                self._finish(key, "interrupted", "the run ended before this stream did", None)
        finally:
            if self._conn is not None:
                self._conn.close()
