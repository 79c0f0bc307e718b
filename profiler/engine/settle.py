"""The settle before a timed session: the app's view has drawn the session's start, then a short gap.

When a session starts, the app redraws (the sessions table gains a row, the live panel resets). On
a machine with few cores, that work ran while the engine prefilled the prompt and landed in TTFT
(issue 17: the app read TTFT 3.5x headless at torch's default thread count). So, for the app only,
the engine waits after announcing a session and before its first timed token: until the view
acknowledges the session-start redraw (an `ack` command), at most `ack_timeout_s`, then `gap_ms`
more for whatever the redraw left queued. What happened is stored with the session
(environment `app_settle`), so a user comparing app and headless runs sees it.

Headless `collect` has no view and never waits.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

ACK_TIMEOUT_S = 1.0
"""A view that doesn't answer (busy, gone) doesn't hold the run up longer than this."""
GAP_MS = 50.0
"""After the acknowledgement: the redraw's tail (layout, the terminal write) finishing."""


@dataclass
class Settle:
    ack_timeout_s: float = ACK_TIMEOUT_S
    gap_ms: float = GAP_MS
    _acks: dict[str, threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_dict(cls, data: dict | None) -> Settle | None:
        """The `settle` field of a `run` command: None (no view to wait for) or its two numbers."""
        if not data:
            return None
        timeout, gap = float(data.get("ack_timeout_s", ACK_TIMEOUT_S)), float(data.get("gap_ms", GAP_MS))
        if not (0 <= timeout <= 10 and 0 <= gap <= 1000):
            raise ValueError("settle: ack_timeout_s must be in [0, 10] and gap_ms in [0, 1000]")
        return cls(timeout, gap)

    def _event(self, session_id: str) -> threading.Event:
        with self._lock:
            return self._acks.setdefault(session_id, threading.Event())

    def acknowledge(self, session_id: str) -> None:
        """The view has drawn this session's start (may come before `wait` begins)."""
        self._event(session_id).set()

    def wait(self, session_id: str) -> dict:
        """Block the collecting thread until acknowledged (or timed out), then the gap; what happened."""
        started = time.perf_counter()
        acknowledged = self._event(session_id).wait(self.ack_timeout_s)
        waited_ms = (time.perf_counter() - started) * 1000.0
        if self.gap_ms:
            time.sleep(self.gap_ms / 1000.0)
        with self._lock:
            self._acks.pop(session_id, None)
        return {"acknowledged": acknowledged, "ack_wait_ms": round(waited_ms, 3), "gap_ms": self.gap_ms,
                "ack_timeout_s": self.ack_timeout_s}


def settle_line(record: dict | None) -> str | None:
    """How `show` says it: None for a session that didn't settle (headless)."""
    if not record:
        return None
    how = (f"the view acknowledged its start after {record.get('ack_wait_ms', 0):.1f} ms" if record.get("acknowledged")
           else f"the view did not acknowledge its start within {record.get('ack_timeout_s', 0):.1f} s")
    return f"{how}, then a {record.get('gap_ms', 0):.0f} ms gap before the first timed token"
