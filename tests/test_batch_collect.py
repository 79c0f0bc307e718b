"""`collect --batch B` (issue 12 §2) on the real embedded model and a real store.

B sequences decode together: B sessions grouped by one run of kind 'batch', each with its own tokens
(equal, in fp32 greedy, to the same prompt decoded alone), every step's one latency on each of them,
the run's aggregate tokens/s in its summary; EOS, --ignore-eos, SIGINT and bad values.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, cli_env, read_only_query, run_cli
from profiler.backends.base import SamplingSettings
from profiler.batch_collect import collect_batch, plan_batches
from profiler.collect import RunSettings
from profiler.records import percentile
from profiler.store import SessionStore, store_path
from tui.cli import main

PROMPTS = ["hi", "a somewhat longer prompt", "the third prompt, longer than both of the others", "four"]
STARTUP_TIMEOUT_S = 90  # model load on a busy 2-core box


def refusal(capsys, *argv: str) -> str:
    code = main(list(argv))
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("tokenlat-tui: error: "), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


def test_prompts_are_cycled_over_the_batch_and_several_batches_cover_more_prompts():
    assert plan_batches(1, 4) == [[0, 0, 0, 0]]
    assert plan_batches(3, 4) == [[0, 1, 2, 0]]
    assert plan_batches(5, 4) == [[0, 1, 2, 3], [4, 0, 1, 2]]
    assert plan_batches(2, 1) == [[0], [1]]


@pytest.mark.parametrize("argv, words", [
    (["collect", "--batch", "0", "x"], ["--batch", "at least 1", "0"]),
    (["collect", "--batch", "-3", "x"], ["--batch", "-3"]),
    (["collect", "--batch", "2", "--server", "http://127.0.0.1:9", "x"], ["--batch", "--server"]),
    (["collect", "--cache", "static", "x"], ["--cache static", "--batch"]),
    (["collect", "--batch", "2", "--compile", "x"], ["--compile", "--cache static"]),
])
def test_bad_batch_values_are_one_line_and_exit_2_before_anything_loads(capsys, private_data_dir, argv, words):
    line = refusal(capsys, *argv)
    assert all(word in line for word in words), line
    assert SessionStore(private_data_dir).list_sessions() == []


def token_ids(store: SessionStore, session_id: str) -> list[int]:
    return [t["token_id"] for t in store.session_tokens(session_id)]


@pytest.mark.slow
def test_collect_batch_4_makes_4_sessions_under_one_batch_run_each_equal_to_its_prompt_alone(tmp_path):
    data_dir = tmp_path / "store"
    tokens = 16
    batched = run_cli("collect", "--batch", "4", *PROMPTS, "--max-new-tokens", str(tokens), "--warmup", "0",
                      "--json", data_dir=data_dir, timeout=300)
    assert batched.returncode == 0, batched.stderr
    report = json.loads(batched.stdout)
    alone = run_cli("collect", *PROMPTS, "--max-new-tokens", str(tokens), "--warmup", "0", "--json",
                    data_dir=data_dir, timeout=300)
    assert alone.returncode == 0, alone.stderr

    store = SessionStore(data_dir)
    db = store_path(data_dir)
    run_id = report["run"]["id"]
    assert read_only_query(db, "SELECT kind FROM runs WHERE id=?", (run_id,)) == [("batch",)]
    rows = read_only_query(db, "SELECT id, prompt, batch_size, batch_index, status, tokens FROM sessions "
                               "WHERE run_id=? ORDER BY batch_index", (run_id,))
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [(p, 4, i, "finished", tokens) for i, p in enumerate(PROMPTS)]
    singles = {s["prompt"]: s["id"] for s in json.loads(alone.stdout)}
    for session_id, prompt, *_ in rows:
        assert token_ids(store, session_id) == token_ids(store, singles[prompt]), prompt

    # one step, one latency: every sequence in the batch waited for the same step
    per_session = [store.session_tokens(r[0]) for r in rows]
    for k in range(tokens):
        assert len({(s[k]["latency_ms"], s[k]["forward_ms"], s[k]["gc_collections"]) for s in per_session}) == 1
    assert [t["context_size"] for t in per_session[2]][:2] == [read_only_query(
        db, "SELECT input_tokens FROM sessions WHERE id=?", (rows[2][0],))[0][0] + i for i in range(2)]

    # the run's summary: aggregate tokens/s from the decode steps the sessions hold (mean: throughput; p50)
    steps = sorted(t["latency_ms"] for t in per_session[0] if t["phase"] == "decode")
    summary = json.loads(read_only_query(db, "SELECT summary FROM runs WHERE id=?", (run_id,))[0][0])
    assert summary["batch"] == 4 and summary["steps"] == tokens - 1 and summary["tokens"] == 4 * tokens
    assert summary["step_p50_ms"] == pytest.approx(percentile(steps, 50))
    assert summary["step_p99_ms"] == pytest.approx(percentile(steps, 99))
    assert summary["aggregate_tokens_per_s"] == pytest.approx(4 * 1000 / (sum(steps) / len(steps)))
    assert summary["aggregate_tokens_per_s_at_p50"] == pytest.approx(4 * 1000 / percentile(steps, 50))
    assert summary["peak_memory_mb"] > 0 and summary["compile_ms"] is None
    assert report["run"]["aggregate_tokens_per_s"] == pytest.approx(summary["aggregate_tokens_per_s"])


@pytest.mark.slow
def test_warmup_batches_are_flagged_and_left_out_of_the_run_summary(embedded_backend, tmp_path):
    store = SessionStore(tmp_path)
    run = collect_batch(embedded_backend, store, RunSettings(max_new_tokens=6, warmup=1, repeat=2), ["one", "two"],
                        batch=2)
    assert [(s.warmup, s.repeat_index, s.batch_index) for s in run.sessions] == [
        (True, 0, 0), (True, 0, 1), (False, 0, 0), (False, 0, 1), (False, 1, 0), (False, 1, 1)]
    assert run.status == "finished"
    assert run.summary["batches"] == 2 and run.summary["steps"] == 2 * 5 and run.summary["tokens"] == 2 * 2 * 6
    listed = {s["id"]: s for s in store.list_sessions()}
    assert all(listed[s.session_id]["run_id"] == run.run_id for s in run.sessions)


# With this sampling seed, two of four copies of "hello" sample EOS within 60 tokens on the embedded
# model (checked below, so a change of model or sampler shows up as a failed precondition, not a pass).
EOS_SAMPLING = SamplingSettings(temperature=1.0, seed=1)
EOS_TOKENS = 60


def eos_run(backend, tmp_path: Path, ignore_eos: bool):
    store = SessionStore(tmp_path / ("ignore" if ignore_eos else "stop"))
    settings = RunSettings(max_new_tokens=EOS_TOKENS, ignore_eos=ignore_eos, warmup=0, sampling=EOS_SAMPLING,
                           gc_freeze=False)
    run = collect_batch(backend, store, settings, ["hello"], batch=4)
    return store, run


@pytest.mark.slow
def test_a_sequence_that_hits_eos_ends_there_while_the_batch_goes_on_and_ignore_eos_records_all(
        embedded_backend, tmp_path):
    eos = embedded_backend.eos_token_ids
    store, run = eos_run(embedded_backend, tmp_path, ignore_eos=False)
    ended = [s for s in run.sessions if s.eos_k is not None]
    assert 0 < len(ended) < 4, "precondition: some (not all) sequences sample EOS with this seed"
    for session in run.sessions:
        ids = token_ids(store, session.session_id)
        if session.eos_k is None:
            assert len(ids) == EOS_TOKENS and not eos & set(ids)
        else:
            # its session stops at its EOS, the first one it produced
            assert len(ids) == session.eos_k == session.tokens and ids[-1] in eos and not eos & set(ids[:-1])
        stored = store.get_session(session.session_id)
        assert stored["eos_k"] == session.eos_k and stored["status"] == "finished"

    kept, ignoring = eos_run(embedded_backend, tmp_path, ignore_eos=True)
    for stopped, went_on in zip(run.sessions, ignoring.sessions):
        ids = token_ids(kept, went_on.session_id)
        assert len(ids) == EOS_TOKENS  # every sequence to --max-new-tokens
        assert went_on.eos_k == stopped.eos_k  # where EOS came is still recorded
        assert ids[:stopped.tokens] == token_ids(store, stopped.session_id)


def wait_for_batch_tokens(proc: subprocess.Popen, db: Path, at_least: int, log: Path) -> dict[str, int]:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"collect exited early ({proc.returncode}): {log.read_text()}")
        if db.exists():
            try:
                rows = read_only_query(db, "SELECT s.id, COUNT(t.k) FROM sessions s "
                                           "LEFT JOIN tokens t ON t.session_id = s.id GROUP BY s.id")
            except Exception:  # noqa: BLE001 - the store may be mid-creation; try again
                rows = []
            if len(rows) == 4 and all(count >= at_least for _, count in rows):
                return dict(rows)
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {at_least} flushed tokens in 4 sessions within {STARTUP_TIMEOUT_S} s")


@pytest.mark.slow
def test_sigint_mid_batch_leaves_all_4_sessions_interrupted_with_their_tokens(tmp_path):
    data_dir = tmp_path / "store"
    log = tmp_path / "stderr.txt"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui", "collect", "--batch", "4", "one", "two", "--max-new-tokens", "3000",
             "--ignore-eos", "--warmup", "0", "--data-dir", str(data_dir)],
            cwd=REPO_ROOT, env=cli_env(data_dir), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=stderr, start_new_session=True)
    db = store_path(data_dir)
    try:
        flushed = wait_for_batch_tokens(proc, db, 20, log)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 128 + signal.SIGINT, log.read_text()
    assert "Traceback" not in log.read_text()
    rows = read_only_query(db, "SELECT id, status, tokens, batch_index, run_id FROM sessions ORDER BY batch_index")
    assert [(r[1], r[3]) for r in rows] == [("interrupted", i) for i in range(4)]
    counts = {r[2] for r in rows}
    assert len(counts) == 1 and counts.pop() >= max(flushed.values())  # the same steps for all four
    for session_id, _status, tokens, _i, _run in rows:
        assert read_only_query(db, "SELECT COUNT(*) FROM tokens WHERE session_id=?", (session_id,)) == [(tokens,)]
    (run_id,) = {r[4] for r in rows}
    ended, summary = read_only_query(db, "SELECT ended, summary FROM runs WHERE id=?", (run_id,))[0]
    assert ended is not None and json.loads(summary)["status"] == "interrupted"
    assert read_only_query(db, "PRAGMA integrity_check") == [("ok",)]


def test_the_app_refuses_batch_flags_rather_than_ignoring_them(capsys, private_data_dir):
    line = refusal(capsys, "--batch", "4")
    assert "collect" in line and "--batch" in line
