"""A remote run's way to the store: the event loop appends messages to a deque, nothing more.

A shipper thread takes the deque every POLL_S and sends it, as one pickled batch, to the store
writer process (store_writer.py), which owns the SQLite writing. The loop is never woken or
blocked by it: a wake-up per chunk cost ~40 us of GIL hand-over on the loop (measured with
cProfile at 32 streams), and writing in this process held the GIL the loop needs for its reads.

When a stream ends, its tokens are counted here, on the shipper thread (maybe with a local
tokenizer, which this process has), and the writer gets the records. An `observer` (a
`RemoteObserver`: the app's engine) is called on the receiver thread with what the writer relays
back, never on the loop: session_started, token (provisional, as chunks arrive), tokens_final
(what was stored once the stream ended and its tokens were counted), session_ended.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from profiler.errors import StoreError, first_line
from profiler.records import SessionMeta, TokenRecord
from profiler.remote.store_writer import POLL_S, failure_line, pack_tokens
from profiler.store import SessionStore

Finalizer = Callable[[], "tuple[list[TokenRecord], dict[str, Any], dict[str, Any]]"]
"""Run on the shipper thread when a stream ends: (token records, remote_sessions values, session column
updates). Counting tokens (maybe with a tokenizer) and deriving latencies stay off the event loop."""

READY_TIMEOUT_S = 60
CLOSE_TIMEOUT_S = 120
"""How long close() waits for the writer to end the run's sessions (a store another process holds
locked can make it wait) before giving up on it."""


class StoreSink:
    """The run's end of the writer process. Methods called from the event loop only enqueue."""

    def __init__(self, store: SessionStore, observer=None) -> None:
        self.store = store
        self.observer = observer
        self._queue: collections.deque = collections.deque()  # append/popleft are atomic: no lock, no wake-up
        self._stop = threading.Event()
        self.session_ids: dict[int, str] = {}
        """request key -> session id, given when the stream begins."""
        self.error: str | None = None
        """The first failure, as the one line the run raises (failure_line)."""
        # a fresh interpreter (not fork: this process has threads; not multiprocessing's spawn, which
        # re-imports the caller's __main__), talking over two pipes
        inbox, to_writer = os.pipe()
        from_writer, outbox = os.pipe()
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "profiler.remote.store_writer", str(store.path), str(os.getpid()), str(inbox),
                 str(outbox), "1" if observer is not None else "0"],
                pass_fds=(inbox, outbox), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=env)
        finally:
            os.close(inbox)
            os.close(outbox)
        self._to_writer = Connection(to_writer, readable=False)
        self._from_writer = Connection(from_writer, writable=False)
        # its start-up (an interpreter, imports: ~0.2 s of CPU) must not compete with the first streams
        try:
            first = self._from_writer.recv() if self._from_writer.poll(READY_TIMEOUT_S) else ("silent",)
        except (EOFError, OSError):
            first = ("ended",)  # it ended before saying anything (an interpreter that can't start)
        if first != ("ready",):
            self._process.kill()
            self._process.wait()
            raise StoreError(first[1] if first[0] == "error" else
                             failure_line(store.path, "the store writer process did not start"))
        self._shipper = threading.Thread(target=self._ship, name="tokenlat-remote-shipper", daemon=True)
        self._receiver = threading.Thread(target=self._receive, name="tokenlat-remote-receiver", daemon=True)
        self._shipper.start()
        self._receiver.start()

    # -- called on the event loop: cheap
    def begin_run(self, run_id: str, settings: dict[str, Any]) -> None:
        self._queue.append(("run", run_id, settings))

    def begin(self, key: int, meta: SessionMeta, run_id: str | None, remote: dict[str, Any]) -> None:
        session_id = self.session_ids[key] = str(uuid.uuid4())
        self._queue.append(("begin", key, session_id, meta, run_id, remote))

    def chunk(self, key: int, row: tuple, prompt_tokens: int | None, wall_at_sent: float) -> None:
        """row: (n, arrival_ms, gap_ms, tokens, content, text, gc_collections); arrival_ms since the request was sent."""
        self._queue.append(("chunk", key, row, prompt_tokens, wall_at_sent))

    def end(self, key: int, status: str, error: str | None, finalize: Finalizer | None,
            stop_reason: str | None = None) -> None:
        self._queue.append(("end", key, status, error, finalize, stop_reason))

    def end_run(self, run_id: str, summary: dict[str, Any]) -> None:
        self._queue.append(("run_end", run_id, summary))

    def close(self) -> None:
        """Send everything queued, have the writer finish any session still open (as interrupted), wait for it."""
        self._stop.set()
        self._shipper.join()
        try:
            code = self._process.wait(CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            self._fail(f"the store writer did not finish within {CLOSE_TIMEOUT_S} s (is another process "
                       "holding the store locked?); sessions it had open are marked interrupted when the "
                       "store is next opened")
        else:
            if code:
                self._fail(f"the store writer process ended with exit code {code}")
        self._receiver.join()
        self._to_writer.close()
        self._from_writer.close()

    # -- the shipper thread
    def _ship(self) -> None:
        queue = self._queue
        while True:
            stopping = self._stop.wait(POLL_S)
            batch = []
            while queue:
                message = queue.popleft()
                batch.append(self._counted(message) if message[0] == "end" else message)
            if stopping:
                batch.append(("close",))
            if batch:
                try:
                    self._to_writer.send(batch)
                except OSError:
                    self._fail("the store writer process ended early; the run's sessions may be left "
                               "interrupted")
                    return
            if stopping:
                return

    def _counted(self, message: tuple) -> tuple:
        """A stream's end with its tokens counted (the finalizer run here)."""
        kind, key, status, error, finalize, stop_reason = message
        final = None
        if finalize is not None:
            try:
                final = finalize()
            except Exception as exc:  # noqa: BLE001 - the stream keeps its provisional tokens; the run says why
                self._fail(f"counting the tokens of a stream failed: {first_line(exc)}")
        return kind, key, status, error, pack_tokens(final), stop_reason

    # -- the receiver thread
    def _receive(self) -> None:
        while True:
            try:
                kind, *rest = self._from_writer.recv()
            except (EOFError, OSError):
                return
            if kind == "observer":
                self._tell(*rest)
            elif kind == "error":
                self._first_error(rest[0])  # the writer's line is whole

    def _tell(self, hook: str, args: tuple) -> None:
        """An observer that fails is dropped: a view's trouble must never stop the store being written."""
        if self.observer is None:
            return
        try:
            getattr(self.observer, hook)(*args)
        except Exception:  # noqa: BLE001
            self.observer = None

    def _fail(self, problem: str) -> None:
        self._first_error(failure_line(self.store.path, problem))

    def _first_error(self, line: str) -> None:
        if self.error is None:
            self.error = line
