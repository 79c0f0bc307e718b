"""A collection triggered after a token's second clock read (by detokenising it) is not charged to it."""

from __future__ import annotations

import gc

from profiler.backends import ScriptedBackend
from profiler.backends.base import Generation, StepOutput
from profiler.clock import ManualClock
from profiler.collect import Collector, RunSettings
from profiler.store import SessionStore


class CollectingDetokenizer(Generation):
    """Its 3rd token_text() runs a full collection: outside the timed step, as detokenising is."""

    def __init__(self, inner: Generation) -> None:
        self.inner, self.texts = inner, 0

    def step(self) -> StepOutput:
        return self.inner.step()

    def token_text(self, token_id: int) -> str:
        self.texts += 1
        if self.texts == 3:
            gc.collect()
        return self.inner.token_text(token_id)


class Backend(ScriptedBackend):
    def start(self, input_ids, sampling):
        return CollectingDetokenizer(super().start(input_ids, sampling))


def test_a_collection_while_detokenising_is_not_charged_to_the_token():
    backend = Backend(prefill_ms=2, decode_ms=1, clock=ManualClock())
    store = SessionStore()
    was_enabled = gc.isenabled()
    gc.disable()  # only the forced collection may run
    try:
        (outcome,) = Collector(backend, store, RunSettings(max_new_tokens=8, ignore_eos=True, warmup=0,
                                                           gc_freeze=False, system_metrics=False),
                               clock=backend.clock).run(["hello"])
    finally:
        if was_enabled:
            gc.enable()
    tokens = store.session_tokens(outcome.session_id)
    assert len(tokens) == 8
    # before the fix, token 3 carried the collection its own detokenising caused
    assert [t["gc_collections"] for t in tokens] == [0] * 8
    assert all(t["gc_ms"] == 0 for t in tokens)
