"""Per-token scheduler accounting (issue 17): how long the decoding thread waited for a CPU inside each
token, stored, shown, exported and imported back, and named by spike attribution."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO_ROOT, cli_env, one_row_csv, run_cli
from model.spikes import find_spikes
from profiler.backends import ScriptedBackend
from profiler.collect import Collector, RunSettings
from profiler.csv_io import export_sessions, import_csv
from profiler.records import DECODE, PREFILL, SessionMeta, TokenRecord
from profiler.sched_watch import SchedWatch
from profiler.store import SessionStore

PROMPT = "The latency of token k grows with"


def test_the_watch_measures_this_threads_wait_around_a_window():
    with SchedWatch() as watch:
        assert watch.available  # Linux with schedstats: what this project runs on
        before = watch.begin()
        deadline = time.perf_counter() + 0.02
        while time.perf_counter() < deadline:  # run for a while: the counters can only grow
            pass
        wait_ms, switches = watch.end(before)
    assert wait_ms >= 0 and switches >= 0
    assert (switches == 0) if wait_ms == 0 else True  # no wait, no preemption
    assert watch.end(None) == (None, None)


def collect(backend, store, **options):
    settings = RunSettings(max_new_tokens=8, ignore_eos=True, warmup=0, system_metrics=False)
    (outcome,) = Collector(backend, store, settings, **options).run([PROMPT])
    return store.session_tokens(outcome.session_id)


def test_every_local_token_records_its_cpu_wait_unless_accounting_is_off(private_data_dir):
    store = SessionStore()
    tokens = collect(ScriptedBackend(), store)
    assert len(tokens) == 8
    assert all(t["cpu_wait_ms"] is not None and t["cpu_wait_ms"] >= 0 for t in tokens)
    assert all(t["preemptions"] is not None and t["preemptions"] >= 0 for t in tokens)
    off = collect(ScriptedBackend(), store, scheduler_accounting=False)
    assert [(t["cpu_wait_ms"], t["preemptions"]) for t in off] == [(None, None)] * 8


def test_a_collector_on_another_thread_reads_that_threads_wait(private_data_dir):
    """The app decodes on a worker thread: the watch is opened there, so each token reads that thread."""
    store = SessionStore()
    result: list = []
    worker = threading.Thread(target=lambda: result.append(collect(ScriptedBackend(), store)))
    worker.start()
    worker.join(60)
    (tokens,) = result
    assert all(t["cpu_wait_ms"] is not None for t in tokens)


def _tokens(waits: list[float | None]) -> list[TokenRecord]:
    return [TokenRecord(k, 4 + k, 10.0 if k != 5 else 16.0, PREFILL if k == 1 else DECODE, k, "x", 1.75e9 + k,
                        cpu_wait_ms=wait, preemptions=None if wait is None else int(wait > 0) * 3)
            for k, wait in enumerate(waits, 1)]


def test_the_cpu_wait_exports_and_imports_back(private_data_dir, tmp_path):
    original = SessionStore(tmp_path / "a")
    writer = original.begin_session(SessionMeta(prompt="p", input_tokens=4, model="m"))
    for record in _tokens([0.0, 0.125, None, 0.0, 6.5]):
        writer.add_token(record)
    writer.finish()
    export_sessions(original, None, tmp_path / "out.csv")
    copy = SessionStore(tmp_path / "b")
    import_csv(copy, tmp_path / "out.csv")
    before = original.session_tokens(writer.session_id)
    after = copy.session_tokens(writer.session_id)
    assert [(t["cpu_wait_ms"], t["preemptions"]) for t in after] == [(t["cpu_wait_ms"], t["preemptions"])
                                                                       for t in before]
    assert after[2]["cpu_wait_ms"] is None and after[4]["cpu_wait_ms"] == 6.5  # not measured stays not measured


def test_spike_attribution_names_the_wait():
    tokens = [{"k": r.k, "context_size": r.context_size, "latency_ms": r.latency_ms, "phase": r.phase,
               "wall_time": r.wall_time, "cpu_wait_ms": r.cpu_wait_ms, "preemptions": r.preemptions}
              for r in _tokens([0.0, 0.0, 0.0, 0.0, 5.75, 0.0])]
    (slowest, *_rest) = find_spikes(tokens)
    assert slowest.k == 5
    assert slowest.summary.startswith("waited 5.75 ms for a CPU, preempted 3 times")
    assert slowest.explained_ms == pytest.approx(5.75)
    # a token that did not wait is not given the cause
    assert all("for a CPU" not in spike.summary for spike in _rest)


@pytest.mark.slow
def test_a_competing_process_on_the_collectors_core_is_named_as_the_cause(private_data_dir):
    """The collector and a busy loop pinned to one core (taskset): the tokens record the wait, and
    `show --spikes` says the token waited for a CPU."""
    busy = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
    try:
        collected = subprocess.run(
            ["taskset", "-c", "0", sys.executable, "-m", "tui", "collect", PROMPT, "--max-new-tokens", "48",
             "--ignore-eos", "--warmup", "0", "--json"],
            cwd=REPO_ROOT, env=cli_env(private_data_dir), capture_output=True, text=True, timeout=300)
    finally:
        busy.kill()
        busy.wait()
    assert collected.returncode == 0, collected.stderr
    (session,) = json.loads(collected.stdout)
    session_id = session["id"] if "id" in session else session["session_id"]
    shown = run_cli("show", session_id, "--json", data_dir=private_data_dir)
    assert shown.returncode == 0, shown.stderr
    tokens = json.loads(shown.stdout)["tokens"]
    assert all(t["cpu_wait_ms"] is not None for t in tokens)
    assert sum(t["cpu_wait_ms"] for t in tokens) > 0 and any(t["preemptions"] for t in tokens)
    spikes = run_cli("show", session_id, "--spikes", "5", data_dir=private_data_dir)
    assert spikes.returncode == 0, spikes.stderr
    assert "for a CPU" in spikes.stdout, spikes.stdout
    table = run_cli("show", session_id, data_dir=private_data_dir)
    assert table.returncode == 0 and "cpu wait ms" in table.stdout


async def test_the_detail_screens_spike_list_names_the_wait(tmp_path):
    from profiler.clock import ManualClock
    from tui.app import make_app
    from tui.screens.session_detail import SessionDetailScreen
    from tui.widgets.spike_list import SpikeList

    store = SessionStore(tmp_path / "data")
    started = "2026-01-05T12:00:00.000000+00:00"
    store.import_sessions([(SessionMeta(prompt="p", input_tokens=4, model="scripted"),
                            {"id": "c0ffee00-waited-session", "started": started, "ended": started},
                            _tokens([0.0, 0.0, 0.0, 0.0, 5.75, 0.0, 0.0, 0.0]))])
    app = make_app(store=store, backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=(120, 36)) as pilot:
        while app.main.controller.info is None:
            await pilot.pause(0.01)
        app.push_screen(SessionDetailScreen("c0ffee00-waited-session"))
        for _ in range(100):
            await pilot.pause(0.05)
            spikes = app.screen.query(SpikeList)
            if spikes and spikes.first().spikes:
                break
        (slowest, *_rest) = app.screen.query_one(SpikeList).spikes
        assert slowest.k == 5 and "waited 5.75 ms for a CPU" in slowest.summary


def test_every_sequence_of_a_batch_records_the_steps_cpu_wait(embedded_backend, tmp_path):
    from profiler.batch_collect import collect_batch

    store = SessionStore(tmp_path / "data")
    run = collect_batch(embedded_backend, store, RunSettings(max_new_tokens=4, ignore_eos=True, warmup=0,
                                                             system_metrics=False), [PROMPT], batch=2)
    first, second = (store.session_tokens(s.session_id) for s in run.sessions)
    assert len(first) == len(second) == 4
    assert all(t["cpu_wait_ms"] is not None and t["preemptions"] is not None for t in first)
    # one step, one wait: every sequence of the batch shares it, as it shares the latency
    assert [t["cpu_wait_ms"] for t in first] == [t["cpu_wait_ms"] for t in second]
    noise = store.get_session(run.sessions[0].session_id)["environment"]["machine_noise"]
    assert [f["key"] for f in noise["findings"]][:3] == ["load", "steal", "busy_processes"]


@pytest.mark.parametrize("cell, problem", [("cpu_wait_ms=-1", "cpu_wait_ms is -1"),
                                           ("preemptions=-2", "preemptions is -2; it can't be below 0"),
                                           ("preemptions=x", "preemptions is 'x', not a whole number")])
def test_bad_scheduler_cells_are_refused_naming_the_line(private_data_dir, tmp_path, cell, problem):
    from profiler.errors import CsvFormatError

    column, value = cell.split("=")
    one_row_csv(tmp_path / "bad.csv", column, value, prompt="s")
    with pytest.raises(CsvFormatError, match=re.escape(f"line 2: {problem}")):
        import_csv(SessionStore(), tmp_path / "bad.csv")
