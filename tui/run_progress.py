"""Where a run stands: which generation (`warm-up 1/1`, `repeat 2/3`), tokens n/N, elapsed, ETA.

A run is `warmups` warm-up generations then `measured` ones, each up to `max_new_tokens`; a
server run's measured generations are requests, several of them streaming at once. The ETA is
the measured rate so far (tokens this run produced per second of wall time, session set-up and
prefill included) applied to the tokens still to come; a generation that stops early at EOS only
makes it pessimistic. Before the first token there is no rate, and no ETA is shown.

Not the prediction panel's fit: that describes the sessions it was fitted on, which need not be
the configuration running now.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable


@dataclass
class RunProgress:
    warmups: int
    measured: int
    max_new_tokens: int
    started: float
    """time.monotonic() when the run was asked for (ctrl+r)."""
    unit: str = "repeat"
    """What a measured generation is called: `repeat` (local model) or `request` (a server's stream)."""
    warmups_started: int = 0
    measured_started: int = 0

    def session_started(self, warmup: bool) -> None:
        if warmup:
            self.warmups_started += 1
        else:
            self.measured_started += 1

    @property
    def generation(self) -> str:
        """`warm-up 1/1`, `repeat 2/3`, or `starting run…` before the first generation began."""
        if self.measured_started:
            return f"{self.unit} {self.measured_started}/{self.measured}"
        if self.warmups_started:
            return f"warm-up {self.warmups_started}/{self.warmups}"
        return "starting run…"

    def eta_s(self, streams: Iterable[tuple[int, bool]], now: float) -> float | None:
        """Seconds left; `streams`: (tokens so far, ended) of each generation this run has started."""
        streams = list(streams)
        done = sum(tokens for tokens, _ended in streams)
        elapsed = now - self.started
        if done <= 0 or elapsed <= 0:
            return None
        not_started = max(0, self.warmups + self.measured - len(streams))
        # an ended generation is complete whatever its count (EOS); a running one has the rest to go
        left = not_started * self.max_new_tokens + sum(
            max(0, self.max_new_tokens - tokens) for tokens, ended in streams if not ended)
        return left * elapsed / done

    def text(self, streams: Iterable[tuple[int, bool]], current_tokens: int, now: float | None = None) -> str:
        """One line for the live panel; `current_tokens`: the shown generation's count (for n/N).
        `now`: time.monotonic(), unless a test passes its own."""
        now = time.monotonic() if now is None else now
        eta = self.eta_s(streams, now)
        parts = [self.generation]
        if self.warmups_started or self.measured_started:
            parts.append(f"tokens {current_tokens}/{self.max_new_tokens}")
        parts.append(f"elapsed {duration(now - self.started)}")
        parts.append(f"ETA {duration(eta)}" if eta is not None else "ETA —")
        return " · ".join(parts)


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
