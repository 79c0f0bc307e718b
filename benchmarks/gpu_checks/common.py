"""What the CPU and GPU checks share: the prompt, `require`, and the project's own collection paths
(`Collector`, `collect_batch`) on the run's private store (`self.store`)."""

from __future__ import annotations

from typing import Any, Callable

PROMPT = "Explain in a few words why a decode step reads every weight once."


def require(condition: bool, why: str) -> None:
    if not condition:
        raise AssertionError(why)


class StoreRuns:
    """Collection helpers for the check classes; the runner sets `store`."""

    def _collect(self, options, *, tokens: int, after_load: Callable[[Any], Any] | None = None):
        from profiler.backends import load_backend
        from profiler.collect import Collector, RunSettings

        backend = load_backend(options)
        try:
            measured = after_load(backend) if after_load else None
            settings = RunSettings(max_new_tokens=tokens, ignore_eos=True, warmup=1, repeat=1)
            outcomes = Collector(backend, self.store, settings).run([PROMPT])
        finally:
            backend.close()
        session_id = next(o.session_id for o in outcomes if not o.warmup)
        stored = self.store.session_tokens(session_id)
        return (session_id, stored, measured) if after_load else (session_id, stored)

    def _collect_batch(self, options, *, batch: int, tokens: int) -> dict[str, Any]:
        from profiler.backends import load_backend
        from profiler.batch_collect import collect_batch
        from profiler.collect import RunSettings

        backend = load_backend(options)
        try:
            settings = RunSettings(max_new_tokens=tokens, ignore_eos=True, warmup=1, repeat=1)
            run = collect_batch(backend, self.store, settings, [f"{PROMPT} ({i})" for i in range(batch)], batch=batch)
        finally:
            backend.close()
        first = next(s for s in run.sessions if not s.warmup)
        token_ids = [t["token_id"] for t in self.store.session_tokens(first.session_id)]
        return {"summary": run.summary, "token_ids": token_ids}

