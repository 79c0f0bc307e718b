"""Where a run stands: which generation (`warm-up 1/1`, `repeat 2/3`), tokens n/N, elapsed, ETA.

A run is `warmups` warm-up generations then `repeats` measured ones, each up to `max_new_tokens`.
The ETA is the measured rate so far (tokens this run produced per second of wall time, session
set-up and prefill included) applied to the tokens still to come; a generation that stops early
at EOS only makes it pessimistic. Before the first token there is no rate, and no ETA is shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class RunProgress:
    warmups: int
    repeats: int
    max_new_tokens: int
    started: float
    """time.monotonic() when the run was asked for (ctrl+r)."""
    warmups_started: int = 0
    repeats_started: int = 0
    tokens_before: int = 0
    """Tokens produced by this run's generations that have already ended."""

    def session_started(self, warmup: bool, previous_tokens: int) -> None:
        """A generation began; `previous_tokens`: what the one before it produced (0 for the first)."""
        self.tokens_before += previous_tokens
        if warmup:
            self.warmups_started += 1
        else:
            self.repeats_started += 1

    @property
    def generation(self) -> str:
        """`warm-up 1/1`, `repeat 2/3`, or `starting run…` before the first generation began."""
        if self.repeats_started:
            return f"repeat {self.repeats_started}/{self.repeats}"
        if self.warmups_started:
            return f"warm-up {self.warmups_started}/{self.warmups}"
        return "starting run…"

    def eta_s(self, current_tokens: int, now: float) -> float | None:
        done = self.tokens_before + current_tokens
        elapsed = now - self.started
        if done <= 0 or elapsed <= 0:
            return None
        generations_started = self.warmups_started + self.repeats_started
        total = (self.warmups + self.repeats) * self.max_new_tokens
        # the current generation counts as complete only when it is; those not started count in full
        left = max(0, total - (generations_started - 1) * self.max_new_tokens - current_tokens) \
            if generations_started else total
        return left * elapsed / done

    def text(self, current_tokens: int, now: float | None = None) -> str:
        """One line for the live panel (`now`: time.monotonic(), unless a test passes its own)."""
        now = time.monotonic() if now is None else now
        elapsed = now - self.started
        eta = self.eta_s(current_tokens, now)
        parts = [self.generation]
        if self.warmups_started or self.repeats_started:
            parts.append(f"tokens {current_tokens}/{self.max_new_tokens}")
        parts.append(f"elapsed {duration(elapsed)}")
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
