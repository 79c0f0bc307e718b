"""Where a run stands: which generation (`warm-up 1/1`, `repeat 2/3`), tokens n/N, elapsed, ETA.

A run is `warmups` warm-up generations then `measured` ones, each up to `max_new_tokens`; a
server run's measured generations are requests, several of them streaming at once.

The ETA comes from a model fitted on this run's own tokens: a line of ms per token against
context (`LatencyLine`, least squares on the shown generation's decode tokens so far). Each token
already produced and each one still to come is weighed by the line at its context, and the time
left is the elapsed time scaled by (weight to come / weight done): set-up and prefill are carried
in that ratio, and the tokens still to come cost more than the first ones when latency grows with
context (a plain tokens-per-second rate would promise too early an end). Until the line can be
fitted every token weighs the same, which is that plain rate; a generation that stops early at EOS
only makes the ETA pessimistic. Before the first token there is no ETA.

Not the prediction panel's fit: that describes the sessions it was fitted on, which need not be
the configuration running now.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Sequence


MIN_FIT_TOKENS = 8
"""Decode tokens needed before the line is fitted; fewer give a slope that is mostly noise."""


@dataclass(frozen=True)
class LatencyLine:
    """ms per token = intercept + slope × context."""

    intercept: float
    slope: float

    @classmethod
    def fit(cls, points: Sequence[tuple[int, float]]) -> "LatencyLine":
        """Least squares on (context, ms) points; flat (every token alike) until it can be fitted."""
        if len(points) < MIN_FIT_TOKENS:
            return FLAT
        n = len(points)
        mean_c = sum(c for c, _ in points) / n
        mean_ms = sum(ms for _, ms in points) / n
        spread = sum((c - mean_c) ** 2 for c, _ in points)
        if spread <= 0 or mean_ms <= 0:
            return FLAT
        slope = sum((c - mean_c) * (ms - mean_ms) for c, ms in points) / spread
        return cls(mean_ms - slope * mean_c, slope)

    def cost(self, first_context: int, count: int) -> float:
        """Sum of the line over contexts first_context … first_context + count - 1 (never below 0)."""
        if count <= 0:
            return 0.0
        contexts = count * first_context + count * (count - 1) / 2
        return max(0.0, count * self.intercept + self.slope * contexts)


FLAT = LatencyLine(1.0, 0.0)
"""Every token weighs the same: the ETA is the plain rate so far."""


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

    def eta_s(self, streams: Iterable[tuple[int, bool]], now: float, *, input_tokens: int = 0,
              line: LatencyLine = FLAT) -> float | None:
        """Seconds left; `streams`: (tokens so far, ended) of each generation this run has started,
        all on one prompt of `input_tokens`; `line`: the fitted ms per token (module docstring)."""
        streams = list(streams)
        elapsed = now - self.started
        done = sum(line.cost(input_tokens, tokens) for tokens, _ended in streams)
        if done <= 0 or elapsed <= 0:
            return None
        not_started = max(0, self.warmups + self.measured - len(streams))
        # an ended generation is complete whatever its count (EOS); a running one has the rest to go
        left = not_started * line.cost(input_tokens, self.max_new_tokens) + sum(
            line.cost(input_tokens + tokens, self.max_new_tokens - tokens)
            for tokens, ended in streams if not ended)
        return left * elapsed / done

    def text(self, streams: Iterable[tuple[int, bool]], current_tokens: int, now: float | None = None, *,
             input_tokens: int = 0, line: LatencyLine = FLAT) -> str:
        """One line for the live panel; `current_tokens`: the shown generation's count (for n/N).
        `now`: time.monotonic(), unless a test passes its own."""
        now = time.monotonic() if now is None else now
        eta = self.eta_s(streams, now, input_tokens=input_tokens, line=line)
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
