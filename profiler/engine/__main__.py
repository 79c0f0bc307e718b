"""`python -m profiler.engine --data-dir DIR [--on-detach finish|stop]`: the engine process.

Commands arrive as JSON lines on stdin, events leave as JSON lines on stdout (see protocol.py).
The client starts it in a session of its own (setsid), so a terminal hang-up never reaches it.

- stdin EOF (or EPIPE on stdout): the client is gone. By `--on-detach`: `finish` lets the current
  run go on to its end (stored `finished`), `stop` cancels it (stored `interrupted`); then it exits.
- SIGINT/SIGTERM: stop the current run between tokens (stored `interrupted`, like `collect`), exit.
  This is how another app attached to one of its sessions stops it. A second signal exits at once.
- SIGHUP: ignored; only the client's pipe decides whether anyone is still listening.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import sys
import threading

from profiler.engine.core import Engine
from profiler.engine.events import EventStream
from profiler.engine.protocol import DETACH_FINISH, DETACH_POLICIES, DETACH_STOP, decode, encode

_CLIENT_GONE = object()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m profiler.engine", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--on-detach", choices=DETACH_POLICIES, default=DETACH_FINISH)
    args = parser.parse_args(argv)

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() from a library must not corrupt the protocol stream
    commands: queue.SimpleQueue = queue.SimpleQueue()

    def write(event: dict) -> None:
        out.write(encode(event))
        out.flush()

    events = EventStream(write, on_broken=lambda: commands.put(_CLIENT_GONE))
    received: list[int] = []

    def on_signal(signum: int, _frame) -> None:
        received.append(signum)
        if len(received) > 1:
            os._exit(128 + signum)  # asked twice: the user means it (the flushed tokens are on disk)
        commands.put({"type": "detach", "policy": DETACH_STOP})

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    from profiler.store import SessionStore  # after the handlers: a signal during the open is still handled

    store = SessionStore(args.data_dir)
    engine = Engine(store, events)
    threading.Thread(target=_read_commands, args=(commands,), name="engine-stdin", daemon=True).start()
    events.emit({"type": "hello", "pid": os.getpid()})

    while not engine.done.is_set():
        try:
            item = commands.get(timeout=0.2)
        except queue.Empty:
            continue
        if item is _CLIENT_GONE:
            engine.detach(args.on_detach)
        elif isinstance(item, dict):
            engine.handle(item)
    engine.wait_idle()
    events.close()
    # os._exit, not a normal return: a model load abandoned half-way (torch importing on a daemon
    # thread) can hang interpreter shutdown, and every session is already closed in the store
    code = 128 + received[0] if received else 0
    sys.stderr.flush()
    os._exit(code)


def _read_commands(commands: queue.SimpleQueue) -> None:
    stdin = sys.stdin.buffer
    try:
        for line in stdin:
            if not line.strip():
                continue
            try:
                commands.put(decode(line))
            except ValueError as exc:
                commands.put({"type": "invalid", "error": str(exc)})
    except OSError:
        pass
    commands.put(_CLIENT_GONE)


if __name__ == "__main__":
    raise SystemExit(main())
