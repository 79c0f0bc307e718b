"""`export --trace`: sessions as a Chrome trace-event timeline, read back as a viewer reads it.

Real parts: the embedded model (local and batched sessions), real SQLite stores, the CLI's own
entry point (in-process, so each test costs no interpreter start), and for remote streams a real
`transformers serve` (test_trace_remote.py). ScriptedBackend + ManualClock give known latencies
that the wall clock doesn't match, the case where tokens have to be moved apart.
"""

from __future__ import annotations

import os
import sqlite3

import pytest

from profiler.backends.scripted import ScriptedBackend
from profiler.batch_collect import collect_batch
from profiler.clock import ManualClock
from profiler.collect import Collector, RunSettings
from profiler.records import FINISHED, SessionMeta, TokenRecord
from profiler.store import SessionStore, store_path
from trace_checks import (assert_nesting_valid, assert_tokens_exact, load_trace, ns, pid_of, process_names, slices,
                          track_names)
from tui.cli import main

TRACKS = {"tokens", "garbage collection", "CPU wait", "spikes", "request", "chunks"}


def export(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["export", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("tokenlat-tui: error: "), err
    assert "Traceback" not in err
    return lines[0]


def exported_trace(capsys, out, *ids: str, store: SessionStore | None = None) -> dict:
    """`export IDS --trace -o OUT`, read back: it succeeded and its slices nest; with `store`, every token of
    every session lasts its stored latency."""
    code, _out, err = export(capsys, *ids, "--trace", "-o", str(out))
    assert code == 0, err
    trace = load_trace(out)
    assert_nesting_valid(trace)
    if store is not None:
        for session_id in ids:
            assert_tokens_exact(trace, session_id, store.session_tokens(session_id))
    return trace


@pytest.fixture
def local_run(embedded_backend, private_data_dir):
    store = SessionStore(private_data_dir)
    settings = RunSettings(max_new_tokens=10, ignore_eos=True, warmup=1, repeat=2)
    outcomes = Collector(embedded_backend, store, settings).run(["a timeline of tokens"])
    return store, [o.session_id for o in outcomes]


def test_local_sessions_every_token_lasts_its_stored_latency_to_the_nanosecond(local_run, tmp_path, capsys):
    store, ids = local_run
    trace = exported_trace(capsys, tmp_path / "run.json", *ids, store=store)
    assert len(process_names(trace)) == 3  # the warm-up and both repeats, in one file
    assert set(track_names(trace).values()) == TRACKS
    # forward and sampling lie inside their token
    pid = pid_of(trace, ids[1])
    tokens = {e["args"]["k"]: e for e in slices(trace, "tokens") if e["pid"] == pid and e["cat"] == "token"}
    for part in ("forward", "sampling"):
        inner = [e for e in slices(trace, "tokens") if e["pid"] == pid and e["name"] == part]
        assert len(inner) == len(tokens)
        for event in inner:
            token = tokens[event["args"]["k"]]
            assert ns(token["ts"]) <= ns(event["ts"])
            assert ns(event["ts"]) + ns(event["dur"]) <= ns(token["ts"]) + ns(token["dur"])
    # names say k and context
    assert tokens[1]["name"].startswith("prefill k=1 (context ")
    assert tokens[2]["name"] == f"decode k=2 (context {tokens[2]['args']['context_size']})"
    # the samples are counter tracks of their session's process
    counters = {e["name"] for e in trace["traceEvents"] if e["ph"] == "C" and e["pid"] == pid}
    assert {"CPU util %", "RSS MB"} <= counters
    # one clock, said in the metadata, with each session's environment
    other = trace["otherData"]
    assert "time.time()" in other["clock"] and other["origin_unix_ns"] > 0
    assert other["sessions"][ids[1]]["environment"]["model"] == store.get_session(ids[1])["environment"]["model"]
    # the tokens sit at their stored wall times on that clock (within the wall clock's resolution)
    token = store.session_tokens(ids[1])[-1]
    end = other["origin_unix_ns"] + ns(tokens[token["k"]]["ts"]) + ns(tokens[token["k"]]["dur"])
    assert abs(end - round(token["wall_time"] * 1e9)) < 1000


def test_batched_sequences_are_processes_of_one_file(embedded_backend, private_data_dir, tmp_path, capsys):
    store = SessionStore(private_data_dir)
    settings = RunSettings(max_new_tokens=6, ignore_eos=True, warmup=0, repeat=1)
    run = collect_batch(embedded_backend, store, settings, ["first prompt", "second, longer prompt"], batch=2)
    ids = [s.session_id for s in run.sessions]
    trace = exported_trace(capsys, tmp_path / "batch.json", *ids, store=store)
    names = process_names(trace)
    assert sorted(name.split(" · ")[-1] for name in names.values()) == ["sequence 1/2", "sequence 2/2"]


def test_known_latencies_the_wall_clock_disagrees_with_still_nest_and_spikes_carry_their_cause(
        private_data_dir, tmp_path, capsys):
    # a manual clock: latencies are exact and large, wall times (real) nearly equal, so tokens must be moved apart
    backend = ScriptedBackend(prefill_ms=30.0, decode_ms=lambda context: 40.0 if context == 9 else 5.0,
                              clock=ManualClock())
    store = SessionStore(private_data_dir)
    settings = RunSettings(max_new_tokens=8, ignore_eos=True, warmup=0, system_metrics=False)
    (outcome,) = Collector(backend, store, settings, clock=backend.clock).run(["abcd"])
    trace = exported_trace(capsys, tmp_path / "scripted.json", outcome.session_id)
    tokens = store.session_tokens(outcome.session_id)
    assert_tokens_exact(trace, outcome.session_id, tokens)
    assert [ns(e["dur"]) for e in sorted(slices(trace, "tokens"), key=lambda e: ns(e["ts"]))
            if e["cat"] == "token"] == [round(t["latency_ms"] * 1e6) for t in tokens]
    # a session without samples: no counter events, still a valid trace
    assert not [e for e in trace["traceEvents"] if e["ph"] == "C"]
    assert trace["otherData"]["sessions"][outcome.session_id]["samples"] == 0
    # the slow token (context 9 -> k = 6) is marked with the cause model/spikes.py gives it
    slow = next(t for t in tokens if t["context_size"] == 9)
    (spike,) = slices(trace, "spikes")
    from model.spikes import find_spikes

    expected = find_spikes(tokens, [], top=1)[0]
    assert spike["args"]["k"] == slow["k"] == expected.k and spike["args"]["cause"] == expected.summary
    assert "forward pass" in spike["name"]
    assert ns(spike["dur"]) == round(slow["latency_ms"] * 1e6)


def test_gc_and_cpu_wait_are_tracks_inside_their_tokens(private_data_dir, tmp_path, capsys):
    store = SessionStore(private_data_dir)
    writer = store.begin_session(SessionMeta(prompt="p", input_tokens=3, model="written"))
    records = [TokenRecord(k=1, context_size=3, latency_ms=12.345678, phase="prefill", token_id=1, token_text="a",
                           wall_time=1_700_000_000.5, forward_ms=12.0, sample_ms=0.2),
               TokenRecord(k=2, context_size=4, latency_ms=7.000001, phase="decode", token_id=2, token_text="\x1b[31m",
                           wall_time=1_700_000_000.51, forward_ms=6.0, sample_ms=0.5, gc_collections=2, gc_ms=3.25,
                           cpu_wait_ms=1.5, preemptions=3)]
    for record in records:
        writer.add_token(record)
    writer.finish(FINISHED)
    out = tmp_path / "written.json"
    trace = exported_trace(capsys, out, writer.session_id)
    (gc_slice,) = slices(trace, "garbage collection")
    (wait,) = slices(trace, "CPU wait")
    token = token_slices_by_k(trace)[2]
    assert (ns(gc_slice["dur"]), ns(wait["dur"])) == (3_250_000, 1_500_000)
    assert ns(gc_slice["ts"]) + ns(gc_slice["dur"]) == ns(token["ts"]) + ns(token["dur"])  # ends with its token
    assert ns(wait["ts"]) == ns(token["ts"]) and wait["args"]["preemptions"] == 3
    assert gc_slice["args"]["collections"] == 2
    assert "\x1b" not in out.read_text()  # model output is made printable, in the file too
    assert_tokens_exact(trace, writer.session_id, store.session_tokens(writer.session_id))


def token_slices_by_k(trace):
    return {e["args"]["k"]: e for e in slices(trace, "tokens") if e["cat"] == "token"}


def test_a_missing_session_is_one_line(local_run, tmp_path, capsys):
    out = tmp_path / "none.json"
    code, _out, err = export(capsys, "ffffffff", "--trace", "-o", str(out))
    assert "no session 'ffffffff'" in one_error_line(code, err)
    assert not out.exists()


def test_a_damaged_token_row_is_one_line_and_writes_nothing(local_run, tmp_path, capsys):
    store, ids = local_run
    conn = sqlite3.connect(store_path(store.path.parent))
    with conn:
        conn.execute("UPDATE tokens SET latency_ms = -3 WHERE session_id=? AND k=2", (ids[1],))
    conn.close()
    out = tmp_path / "damaged.json"
    code, _out, err = export(capsys, ids[1], "--trace", "-o", str(out))
    line = one_error_line(code, err)
    assert ids[1][:8] in line and "k=2" in line and "damaged" in line
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_corrupted_store_is_one_line(tmp_path, capsys, private_data_dir):
    path = store_path(private_data_dir)
    path.write_bytes(b"this is not a database" * 100)
    out = tmp_path / "x.json"
    code, _out, err = export(capsys, "abc", "--trace", "-o", str(out))
    one_error_line(code, err)
    assert not out.exists()


def test_output_rules_are_those_of_the_csv_export(local_run, tmp_path, capsys):
    _store, ids = local_run
    existing = tmp_path / "mine.json"
    existing.write_text("keep me")
    code, _out, err = export(capsys, ids[1], "--trace", "-o", str(existing))
    assert "already exists" in one_error_line(code, err) and existing.read_text() == "keep me"
    link = tmp_path / "link.json"
    os.symlink(existing, link)
    code, _out, err = export(capsys, ids[1], "--trace", "-o", str(link), "--force")
    assert "symbolic link" in one_error_line(code, err) and existing.read_text() == "keep me"
    code, _out, err = export(capsys, ids[1], "--trace", "-o", str(tmp_path), "--force")
    assert "directory" in one_error_line(code, err)
    code, _out, err = export(capsys, ids[1], "--trace", "-o", str(existing), "--force")
    assert code == 0, err
    assert load_trace(existing)["traceEvents"]
    code, out, err = export(capsys, ids[1], "--trace", "-o", "-")
    assert code == 0, err
    assert '"traceEvents"' in out and "wrote a trace" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "mine.json"]  # no temp file left


async def test_the_detail_screen_key_writes_the_trace_and_names_it(tmp_path, monkeypatch):
    from test_session_detail import SPIKY_ID, build_app, open_detail

    monkeypatch.chdir(tmp_path)  # where the app was started: the file goes there
    (tmp_path / f"tokenlat-trace-{SPIKY_ID[:8]}.json").write_text("not ours to replace")
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_detail(pilot)
        await pilot.press("t")
        await pilot.pause()
        notes = [(n.title, n.message) for n in app._notifications]
    written = tmp_path / f"tokenlat-trace-{SPIKY_ID[:8]}-2.json"
    assert (tmp_path / f"tokenlat-trace-{SPIKY_ID[:8]}.json").read_text() == "not ours to replace"
    assert any(title == "trace written" and str(written) in message for title, message in notes), notes
    trace = load_trace(written)
    assert_nesting_valid(trace)
    assert_tokens_exact(trace, SPIKY_ID, app.store.session_tokens(SPIKY_ID))
    (gc_slice,) = slices(trace, "garbage collection")
    assert ns(gc_slice["dur"]) == 43_500_000  # the spiky session's recorded GC, inside its token
    assert [e["args"]["k"] for e in slices(trace, "spikes")][0] == 77
