"""The remote run's store writer: a process of its own, fed by the run's StoreSink (sink.py).

It owns every SessionWriter of the run and its SQLite connection. Chunk rows are committed every
FLUSH_EVERY_S while streams run, so a killed run leaves every chunk that arrived more than that
long before; the provisional tokens are derived from the rows at that flush and committed with
them, every session's in ONE transaction. A provisional token is the chunk's own count where the
server gave one, else one per content chunk, and the session's token_source says `provisional_one_per_chunk`
until the stream ends and its counted tokens replace them (in one transaction), so `show`, `export`
and `fit` see what arrived even after a SIGKILL. When the store can't be written any more (a full
disk), the sessions still open are marked failed with that reason while a small write may still fit. When the run's process goes away without a word (killed,
its terminal gone) the pipe closes and this ends every open session as interrupted, with its tokens.

Why a process: the event loop that stamps arrivals must get to every socket within one chunk
interval, or the kernel merges a stream's queued chunks into one packet with the later one's
stamp. In the run's own process this writing (its Python work, and sqlite3 taking the GIL back
after every row's step) held the GIL the loop needed: at 32 streams, 5 ms apart, a quarter of the
gaps touched a merged read (benchmarks/remote_client.py). Here it shares no GIL, and runs at a
lower CPU priority (WRITER_NICENESS) so the loop and the server come first on a busy machine.
"""

from __future__ import annotations

import operator
import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from profiler.collect import SessionOutcome
from profiler.errors import StoreError, first_line
from profiler.records import TokenRecord
from profiler.remote.accounting import TokenDeriver
from profiler.remote.chunks import PROVISIONAL
from profiler.store.chunks import CHUNK_INSERT, REMOTE_INSERT, begin_run, end_run, mark_remote, remote_row, \
    write_in_transaction
from profiler.store.connection import open_connection
from profiler.store.session_rows import TOKEN_INSERT, token_row
from profiler.store.writer import FLUSH_EVERY_S, SessionWriter

POLL_S = 0.05
WRITER_NICENESS = 10

CountedTokens = tuple[list[TokenRecord], dict[str, Any], dict[str, Any]] | None
"""What a stream's end carries, counted by the run's process (sink.py): (token records, remote_sessions
values, session column updates), or None when it had nothing to count (the provisional tokens stay).
The records cross the pipe as plain tuples (pack_tokens): pickling a slotted dataclass calls back into
Python for every record, 13x the cost of a tuple, on the run's process where the event loop reads."""

_TOKEN_VALUES = operator.attrgetter(*TokenRecord.__slots__)
PackedTokens = tuple[list[tuple], dict[str, Any], dict[str, Any]] | None


def pack_tokens(final: CountedTokens) -> PackedTokens:
    """The same, with each TokenRecord as the tuple of its fields (in TokenRecord's order), for the pipe."""
    if final is None:
        return None
    tokens, remote, updates = final
    return [_TOKEN_VALUES(record) for record in tokens], remote, updates


def unpack_tokens(final: PackedTokens) -> CountedTokens:
    """pack_tokens undone, in the writer process."""
    if final is None:
        return None
    tokens, remote, updates = final
    return [TokenRecord(*values) for values in tokens], remote, updates


@dataclass
class _Open:
    writer: Any
    remote: dict[str, Any]
    chunks: list[tuple] = field(default_factory=list)
    """Chunk rows not yet committed."""
    unwritten: list[TokenRecord] = field(default_factory=list)
    """Provisional tokens derived since the last flush, not yet written."""
    deriver: TokenDeriver | None = None
    """Provisional tokens, one chunk at a time (a chunk the server didn't count counts one): the same
    records go to the store at each flush and to an observer (a live view) as they come."""
    live_tokens: int = 0
    warmup: bool = False


class StoreWriter:
    """Handles the run's messages (see sink.py) in the writer process. An `observer` here is a relay
    back to the run's process (ObserverRelay)."""

    def __init__(self, path: Path, owner_pid: int, observer=None) -> None:
        self.path = path
        self.owner_pid = owner_pid
        """The run's process: sessions name it as theirs (follow --stop signals it; a store opened after
        it died marks them interrupted), not this one."""
        self.observer = observer
        self._open: dict[int, _Open] = {}
        self.error: BaseException | None = None
        self._conn = None

    def safely(self, action, *args) -> None:
        if self.error is not None:
            return  # the store failed (full disk?): the first error is reported, later writes dropped
        try:
            action(*args)
        except Exception as exc:  # noqa: BLE001 - reported to the run, which says it once the streams end
            self.error = exc
            self._fail_open(exc)

    def _fail_open(self, error: BaseException) -> None:
        """Mark every open session failed with the store's failure (the failed transaction was rolled
        back, so the few pages this needs usually fit where its frames were). Without this, the next
        command would mark them interrupted with "process ended without closing the session"."""
        line = first_line(error) if isinstance(error, StoreError) else failure_line(self.path, first_line(error))
        for key in list(self._open):
            entry = self._open.pop(key)
            try:
                entry.writer.finish("failed", line)
            except Exception:  # noqa: BLE001 - not even that fits: the next command marks it interrupted
                pass

    def _connection(self):
        if self._conn is None:
            self._conn = open_connection(self.path)
        return self._conn

    def handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "run":
            begin_run(self._connection(), message[1], message[2])
        elif kind == "begin":
            _, key, session_id, meta, run_id, remote = message
            writer = SessionWriter(self.path, meta, session_id=session_id, owner_pid=self.owner_pid)
            self._open[key] = _Open(writer, remote, warmup=meta.warmup)
            mark_remote(self._connection(), writer.session_id, run_id)
            write_in_transaction(self._connection(), [(REMOTE_INSERT, [remote_row(
                {**remote, "session_id": writer.session_id, "token_source": PROVISIONAL})])])
            self._tell("session_started", writer.session_id, meta)
        elif kind == "chunk":
            _, key, row, prompt_tokens, wall_at_sent = message
            entry = self._open[key]
            entry.chunks.append((entry.writer.session_id, *row))
            self._derive(entry, row, prompt_tokens, wall_at_sent)
        elif kind == "end":
            _, key, status, error, final, stop_reason = message
            self.finish(key, status, error, unpack_tokens(final), stop_reason)
        elif kind == "run_end":
            end_run(self._connection(), message[1], message[2])

    def _derive(self, entry: _Open, row: tuple, prompt_tokens: int | None, wall_at_sent: float) -> None:
        """A content chunk's provisional tokens: the chunk's own count where the server gave one (bounded
        by what its text can hold: chunks.py), else one. Kept for the next flush, shown to an observer."""
        _n, arrival_ms, _gap, tokens, content, text, gcs = row
        if not content:
            return
        if entry.deriver is None:
            entry.deriver = TokenDeriver(input_tokens=prompt_tokens or 0, wall_at_sent=wall_at_sent)
        records = entry.deriver.add(arrival_ms, 1 if tokens is None else tokens, text, True, gcs)
        entry.unwritten += records
        if self.observer is not None:
            session_id = entry.writer.session_id
            for record in records:
                self._tell("token", session_id, record)

    def _live_token_rows(self, entry: _Open) -> list[tuple]:
        """Token rows of the provisional tokens derived since the last flush. When the stream ends they
        are replaced by the final count (which may need the whole text), so a killed process still
        leaves tokens, and a finished one the right ones."""
        session_id = entry.writer.session_id
        rows = [token_row(session_id, record) for record in entry.unwritten]
        entry.unwritten = []
        entry.live_tokens += len(rows)
        return rows

    def _tell(self, hook: str, *args) -> None:
        if self.observer is not None:
            getattr(self.observer, hook)(*args)

    def flush_all(self) -> None:
        """Every open stream's new chunk rows and provisional tokens, in one transaction."""
        chunks = [row for entry in self._open.values() for row in entry.chunks]
        tokens = [row for entry in self._open.values() for row in self._live_token_rows(entry)]
        if chunks or tokens:
            write_in_transaction(self._connection(), [(CHUNK_INSERT, chunks), (TOKEN_INSERT, tokens)])
        for entry in self._open.values():
            entry.chunks = []

    def finish(self, key: int, status: str, error: str | None, final: CountedTokens,
               stop_reason: str | None = None) -> None:
        entry = self._open[key]  # left open until its rows are written: a failed write marks it failed (_fail_open)
        session_id = entry.writer.session_id
        tokens, remote, updates = final if final else (None, {}, {})
        live = self._live_token_rows(entry) if tokens is None else []  # no final count: the provisional ones stay
        if tokens is None:
            remote = {"token_source": PROVISIONAL, "counted_tokens": entry.live_tokens}
        statements = [(CHUNK_INSERT, entry.chunks), (TOKEN_INSERT, live),
                      (REMOTE_INSERT, [remote_row({**entry.remote, **remote, "session_id": session_id})])]
        if tokens is not None:  # the provisional tokens on disk replaced by the counted ones, in one transaction
            if entry.live_tokens:
                statements.append(("DELETE FROM tokens WHERE session_id=?", [(session_id,)]))
            statements.append((TOKEN_INSERT, [token_row(session_id, record) for record in tokens]))
        if updates:
            columns = sorted(updates)
            statements.append((f"UPDATE sessions SET {', '.join(c + '=?' for c in columns)} WHERE id=?",
                               [(*[updates[c] for c in columns], session_id)]))
        write_in_transaction(self._connection(), statements)
        del self._open[key]
        entry.chunks = []
        entry.writer.finish(status, error)
        if tokens is not None:
            self._tell("tokens_final", session_id, tokens)
        count = 0 if entry.warmup else len(tokens) if tokens is not None else entry.live_tokens
        self._tell("session_ended", SessionOutcome(session_id, status, stop_reason, entry.warmup, count, error))

    def close_all(self, why: str = "the run ended before this stream did") -> None:
        try:
            for key in list(self._open):
                self.finish(key, "interrupted", why, None)
        finally:
            if self._conn is not None:
                self._conn.close()


class ObserverRelay:
    """Stands in for the run's observer in the writer process: each hook goes back over the pipe (the
    run's StoreSink calls the observer, and drops one that fails)."""

    def __init__(self, outbox) -> None:
        self._outbox = outbox

    def __getattr__(self, hook: str):
        def send(*args) -> None:
            try:
                self._outbox.send(("observer", hook, args))
            except OSError:
                pass  # the run's process is gone: there is no view left to tell

        return send


def serve(path: str, owner_pid: int, inbox: Connection, outbox: Connection, relay_observer: bool) -> None:
    """The writer process: read message batches until "close" (or the run's process is gone), writing
    as they come and flushing every FLUSH_EVERY_S; report the first error back."""
    for name in ("SIGINT", "SIGHUP"):  # the terminal's signals are for the run, which closes this itself
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        os.nice(WRITER_NICENESS)
    except (AttributeError, OSError):
        pass
    writer = StoreWriter(Path(path), owner_pid, ObserverRelay(outbox) if relay_observer else None)
    outbox.send(("ready",))  # imported and at low priority: the run may start its streams
    last_flush, reported = time.monotonic(), False
    while True:
        why = None
        try:
            batch = inbox.recv() if inbox.poll(POLL_S) else []
        except (EOFError, OSError):
            batch, why = [("close",)], "the run's process ended before this stream did"
        for message in batch:
            if message[0] == "close":
                writer.safely(writer.close_all, *([why] if why else []))
                if not reported:
                    _report(outbox, path, writer.error)
                return
            writer.safely(writer.handle, message)
        if time.monotonic() - last_flush >= FLUSH_EVERY_S:
            writer.safely(writer.flush_all)
            last_flush = time.monotonic()
        if writer.error is not None and not reported:
            reported = _report(outbox, path, writer.error)


def failure_line(path: str | Path, problem: str) -> str:
    """The one line a run says when its store couldn't be written (the run raises it as a StoreError)."""
    return f"can't write the session store {path}: {problem}"


def _report(outbox, path: str | Path, error: BaseException | None) -> bool:
    if error is None:
        return False
    line = first_line(error) if isinstance(error, StoreError) else failure_line(path, first_line(error))
    try:
        outbox.send(("error", line))
    except OSError:
        pass  # the run's process is gone: the sessions it left say what happened
    return True


def main(argv: list[str]) -> int:
    """python -m profiler.remote.store_writer STORE OWNER_PID INBOX_FD OUTBOX_FD RELAY (started by sink.py)."""
    path, owner_pid, inbox, outbox, relay = argv
    outbox_connection = Connection(int(outbox), readable=False)
    try:
        serve(path, int(owner_pid), Connection(int(inbox), writable=False), outbox_connection, relay == "1")
    except Exception as exc:  # noqa: BLE001 - the run says it in one line; nothing is printed here
        _report(outbox_connection, path, exc)
        return 1
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
