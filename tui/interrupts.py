"""SIGINT, SIGTERM and SIGHUP (a dropped SSH link) end a collection cleanly.

Inside a session the handler only sets the cancel Event: the loop stops before the next token,
flushes and marks the session `interrupted`. Outside a session (loading the model, between
sessions) nothing is unsaved, so it raises KeyboardInterrupt at once. A second signal always raises.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable

from profiler.signal_guard import SIGNALS, SignalInterrupt  # one definition, shared with export's guard


class InterruptHandlers:
    def __init__(self, cancel: threading.Event, in_session: Callable[[], bool]) -> None:
        self.cancel = cancel
        self._in_session = in_session
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> InterruptHandlers:
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: object) -> None:
        repeated = self.received is not None
        self.received = signum
        self.cancel.set()
        if repeated or not self._in_session():
            raise SignalInterrupt(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.received if self.received else 0
