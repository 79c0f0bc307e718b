"""Turn SIGTERM and SIGHUP into an exception for the length of a block, so `finally` runs.

Python's default for SIGTERM and SIGHUP ends the process at once, skipping every `finally`:
an export killed that way left its temporary file (up to 44 MB) beside the target. Inside
`signals_raise()` they raise SignalInterrupt (a KeyboardInterrupt, as SIGINT does), the block's
cleanup runs, and the CLI exits 128 + the signal's number. SIGKILL can't be caught; the next
export sweeps what it leaves (`export_target.remove_stale_temps`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Iterator, NoReturn

SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


class SignalInterrupt(KeyboardInterrupt):
    """A KeyboardInterrupt that remembers its signal (`signum`), for the 128 + N exit status."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"interrupted by {signal.Signals(self.signum).name}"


SIGNAL_EXIT_CODES = frozenset(128 + int(s) for s in SIGNALS)
"""The exit statuses of a run ended by one of SIGNALS (128 + its number)."""


def exit_now(code: int) -> NoReturn:
    """End the process with `code` at once, skipping the interpreter's teardown.

    For a run ended by a signal, once its data is stored and its store closed: tearing down torch and
    transformers took 0.75-1.2 s after "saved as 'interrupted'" was printed (measured on a busy 2-core
    box), time a user waits for the prompt after ctrl+c for nothing. Only the caller's buffered
    output is at stake, so stdout and stderr are flushed first; no atexit hook or finaliser runs.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stream (the terminal went away): nothing more to say there
    os._exit(code)


def _raise(signum: int, _frame: object) -> None:
    raise SignalInterrupt(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM/SIGHUP at their defaults raise SignalInterrupt; restored after.

    Handlers can only be set from the main thread; elsewhere (an app worker) the block runs as is,
    and whoever owns the main thread decides what a signal does.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    try:
        for sig in SIGNALS:
            # Only the defaults are replaced: they end the process (or raise KeyboardInterrupt)
            # without running this block's cleanup. A signal someone ignores (nohup's SIGHUP)
            # stays ignored, and one with its own handler (the app leaves through its event loop,
            # after the export returns) keeps it.
            if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
                previous[sig] = signal.signal(sig, _raise)
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
