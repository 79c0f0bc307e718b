"""`--cache static` and `--compile` (issue 12 §2): the seed's "optimised" path on the real embedded model.

The static cache is allocated once per run and every decode step keeps its shapes; its greedy tokens
equal the growing cache's. torch.compile compiles the decode step in a pass timed apart (compile_ms on
every session and in the run summary); warm-up batches follow it, flagged. Compiling on this CPU
takes a minute or more: these tests are slow.
"""

from __future__ import annotations

import pytest

from conftest import cli_env, run_cli
from profiler.backends import BackendOptions, load_backend
from profiler.backends.base import SamplingSettings
from profiler.batch_collect import collect_batch
from profiler.collect import RunSettings
from profiler.store import SessionStore

pytestmark = pytest.mark.slow

PROMPTS = ["hi", "a somewhat longer prompt", "the third prompt, longer than both of the others"]
TOKENS = 12


def alone(backend, prompt: str, tokens: int) -> list[int]:
    generation = backend.start(backend.encode(prompt), SamplingSettings())
    try:
        return [generation.step().token_id for _ in range(tokens)]
    finally:
        generation.close()


def stored_ids(store: SessionStore, session_id: str) -> list[int]:
    return [t["token_id"] for t in store.session_tokens(session_id)]


def test_the_static_cache_gives_the_growing_caches_greedy_tokens(embedded_backend, tmp_path):
    backend = load_backend(BackendOptions(batch=3, cache="static"))
    try:
        store = SessionStore(tmp_path)
        run = collect_batch(backend, store, RunSettings(max_new_tokens=TOKENS, warmup=0), PROMPTS, batch=3)
        assert [s.tokens for s in run.sessions] == [TOKENS] * 3
        for session, prompt in zip(run.sessions, PROMPTS):
            assert stored_ids(store, session.session_id) == alone(embedded_backend, prompt, TOKENS), prompt
            stored = store.get_session(session.session_id)
            assert stored["settings"]["cache"] == "static" and stored["environment"]["cache"] == "StaticCache"
            assert stored["compile_ms"] is None  # nothing compiled
    finally:
        backend.close()


def test_compile_is_timed_apart_and_warmup_follows_it(embedded_backend, tmp_path):
    backend = load_backend(BackendOptions(batch=2, cache="static", compile=True))
    try:
        store = SessionStore(tmp_path)
        run = collect_batch(backend, store, RunSettings(max_new_tokens=TOKENS, warmup=1), PROMPTS[:2], batch=2)
    finally:
        backend.close()
    # the compile pass made no session: one warm-up batch, then the measured one
    assert [(s.warmup, s.batch_index) for s in run.sessions] == [(True, 0), (True, 1), (False, 0), (False, 1)]
    assert run.summary["compile_ms"] > 0 and run.summary["steps"] == TOKENS - 1
    for session in run.sessions:
        stored = store.get_session(session.session_id)
        assert stored["compile_ms"] == run.summary["compile_ms"]
        assert stored["settings"]["compile"] is True and stored["settings"]["compile_mode"] == "default"
    # compiled or not, the greedy tokens are the model's
    for session, prompt in zip(run.sessions[2:], PROMPTS):
        assert stored_ids(store, session.session_id) == alone(embedded_backend, prompt, TOKENS), prompt
    # the compilation is nowhere in the tokens: every measured step is far below it
    worst = max(t["latency_ms"] for s in run.sessions[2:] for t in store.session_tokens(s.session_id))
    assert worst < run.summary["compile_ms"]


def test_a_compiler_that_fails_is_one_line_exit_2_and_nothing_stored(tmp_path):
    data_dir = tmp_path / "store"
    result = run_cli("collect", "--batch", "2", "--cache", "static", "--compile", "--max-new-tokens", "4", "hi",
                     env=cli_env(data_dir, CXX=str(tmp_path / "no-such-compiler")), timeout=600)
    # rich's status line for the model may precede it; the error itself is one line
    lines = [line for line in result.stderr.splitlines() if line.startswith("tokenlat-tui: error:")]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "torch.compile failed" in lines[0] and "without --compile" in lines[0]
    assert "Traceback" not in result.stderr
    assert SessionStore(data_dir).list_sessions() == []
