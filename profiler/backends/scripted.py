"""A deterministic backend with known, injected delays: the timing seam's test double.

It sleeps on the clock it is given: on the real `PerfClock` the delays are real (so the loop's
measurement can be checked against them), on a `ManualClock` time simply advances (so snapshot
tests and demos are exactly repeatable). Passed in by tests and the app factory; never patched in.
"""

from __future__ import annotations

from typing import Callable

from profiler.backends.base import Backend, BackendInfo, Generation, SamplingSettings, StepOutput
from profiler.backends.byte_tokenizer import EOS_ID, ByteTokenizer, IncrementalByteDecoder
from profiler.clock import Clock, PerfClock

_TEXT = "the quick brown fox jumps over the lazy dog. "


class ScriptedBackend(Backend):
    def __init__(self, *, prefill_ms: float = 20.0, decode_ms: float | Callable[[int], float] = 5.0,
                 clock: Clock | None = None, eos_after: int | None = None, max_context: int = 4096,
                 model: str = "scripted") -> None:
        self.clock = clock or PerfClock()
        self.prefill_ms = prefill_ms
        # decode delay may depend on the context size, so fits and plots have a slope to find
        self.decode_ms = decode_ms if callable(decode_ms) else (lambda _context, ms=decode_ms: ms)
        self.eos_after = eos_after
        self.tokenizer = ByteTokenizer()
        self.forward_calls: list[int] = []
        """How many new tokens each step fed the 'model' (the one-token-per-step contract)."""
        self.info = BackendInfo(model=model, label="scripted delays", backend="scripted", dtype="float32",
                                device="cpu", max_context=max_context,
                                environment={"backend": "scripted", "prefill_ms": prefill_ms})

    @property
    def eos_token_ids(self) -> frozenset[int]:
        return frozenset({EOS_ID})

    def encode(self, prompt: str) -> list[int]:
        return self.tokenizer.encode(prompt)

    def start(self, input_ids: list[int], sampling: SamplingSettings) -> Generation:
        return _ScriptedGeneration(self, len(input_ids))


class _ScriptedGeneration(Generation):
    def __init__(self, backend: ScriptedBackend, input_tokens: int) -> None:
        self._backend = backend
        self._context = input_tokens
        self._produced = 0
        self._decoder = IncrementalByteDecoder()

    def step(self) -> StepOutput:
        backend = self._backend
        first = self._produced == 0
        new_tokens = self._context if first else 1
        backend.forward_calls.append(new_tokens)
        delay_ms = backend.prefill_ms if first else backend.decode_ms(self._context)
        backend.clock.sleep_ns(int(delay_ms * 1_000_000))
        self._produced += 1
        self._context += 1
        if backend.eos_after is not None and self._produced >= backend.eos_after:
            token = EOS_ID
        else:
            token = ord(_TEXT[(self._produced - 1) % len(_TEXT)])
        return StepOutput(token_id=token, forward_ns=int(delay_ms * 1_000_000), sample_ns=0)

    def token_text(self, token_id: int) -> str:
        return self._decoder.token_text(token_id)
