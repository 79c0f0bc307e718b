"""The headless CLI (issue 2 §6): collect with warm-up and repeats, sessions, show, delete."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3

import pytest

from conftest import error_lines, read_only_query, run_cli
from profiler.store import SessionStore, store_path

pytestmark = pytest.mark.slow  # each test runs the CLI in subprocesses (the fixture collects on the embedded model)

SESSION_FIELDS = {"id", "status", "started", "model", "quant", "dtype", "device", "input_tokens", "tokens", "warmup",
                  "ttft_ms", "decode_p50_ms", "decode_p95_ms", "decode_p99_ms", "tokens_per_s"}
NEW_TOKENS = 6


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """One real `collect --warmup 2 --repeat 3` on the embedded model (shared: a model load is seconds)."""
    data_dir = tmp_path_factory.mktemp("cli-store")
    result = run_cli("collect", "warm me up", "--warmup", "2", "--repeat", "3", "--max-new-tokens", str(NEW_TOKENS),
                     "--ignore-eos", "--json", "--data-dir", str(data_dir), timeout=300)
    assert result.returncode == 0, result.stderr
    return data_dir, json.loads(result.stdout), result


@pytest.fixture
def store_copy(collected, tmp_path):
    """A private copy of the collected store, for tests that change it."""
    data_dir, _, _ = collected
    copy = tmp_path / "copy"
    copy.mkdir()
    source = sqlite3.connect(store_path(data_dir))
    target = sqlite3.connect(store_path(copy))
    source.backup(target)
    source.close()
    target.close()
    return copy


def sessions_json(data_dir) -> list[dict]:
    result = run_cli("sessions", "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_collect_prints_one_summary_per_session(collected):
    _, printed, result = collected
    assert len(printed) == 5
    assert [s["warmup"] for s in printed] == [True, True, False, False, False]
    assert all(s["status"] == "finished" for s in printed)
    assert "Traceback" not in result.stderr


def test_warmup_and_repeat_give_flagged_warmups_and_measured_sessions(collected):
    data_dir, _, _ = collected
    sessions = sessions_json(data_dir)
    assert len(sessions) == 5
    warmups = [s for s in sessions if s["warmup"]]
    measured = [s for s in sessions if not s["warmup"]]
    assert len(warmups) == 2 and len(measured) == 3
    # warm-up tokens are recorded (tokens, as the table shows) but never counted as data (measured_tokens)
    assert all(s["tokens"] == NEW_TOKENS and s["measured_tokens"] == 0 for s in warmups)
    assert all(s["tokens"] == s["measured_tokens"] == NEW_TOKENS for s in measured)
    assert sorted(s["repeat_index"] for s in measured) == [0, 1, 2]


def test_warmup_tokens_are_left_out_of_the_token_frame_by_default(collected):
    data_dir, _, _ = collected
    store = SessionStore(data_dir)
    measured_ids = {s["id"] for s in store.list_sessions() if not s["warmup"]}
    frame = store.tokens_frame()
    assert len(frame) == 3 * NEW_TOKENS
    assert set(frame["Prompt_ID"]) == measured_ids
    assert not frame["warmup"].any()
    with_warmup = store.tokens_frame(include_warmup=True)
    assert len(with_warmup) == 5 * NEW_TOKENS and with_warmup["warmup"].sum() == 2 * NEW_TOKENS


def test_sessions_json_items_carry_the_documented_fields_newest_first(collected):
    data_dir, printed, _ = collected
    sessions = sessions_json(data_dir)
    for session in sessions:
        assert SESSION_FIELDS <= set(session), SESSION_FIELDS - set(session)
        started = dt.datetime.fromisoformat(session["started"])
        assert started.tzinfo is not None
        assert session["model"] == "tokenlat/embedded-mistral-512x6"
        assert (session["quant"], session["dtype"], session["device"]) == ("none", "float32", "cpu")
        assert session["input_tokens"] == len("warm me up") + 1  # bytes + BOS
        assert session["ttft_ms"] > 0
        assert 0 < session["decode_p50_ms"] <= session["decode_p95_ms"] <= session["decode_p99_ms"]
        assert session["tokens_per_s"] > 0
    starts = [dt.datetime.fromisoformat(s["started"]) for s in sessions]
    assert starts == sorted(starts, reverse=True)
    # collect prints oldest first (the order they ran); sessions lists newest first
    assert [s["id"] for s in sessions] == [s["id"] for s in reversed(printed)]


def test_sessions_limit_and_table(collected):
    data_dir, _, _ = collected
    result = run_cli("sessions", "--json", "--limit", "2", data_dir=data_dir)
    assert [s["id"] for s in json.loads(result.stdout)] == [s["id"] for s in sessions_json(data_dir)[:2]]
    table = run_cli("sessions", data_dir=data_dir)
    assert table.returncode == 0 and "Traceback" not in table.stderr
    for session in sessions_json(data_dir):
        assert session["id"][:8] in table.stdout


def test_show_accepts_an_id_prefix_and_prints_every_token(collected):
    data_dir, _, _ = collected
    newest = sessions_json(data_dir)[0]
    result = run_cli("show", newest["id"][:8], "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["id"] == newest["id"]
    assert [t["k"] for t in shown["tokens"]] == list(range(1, NEW_TOKENS + 1))
    assert [t["context_size"] for t in shown["tokens"]] == [newest["input_tokens"] + k - 1
                                                            for k in range(1, NEW_TOKENS + 1)]
    assert shown["environment"]["cache"] == "DynamicCache"
    assert shown["settings"]["repeat"] == 3
    rich = run_cli("show", newest["id"][:8], data_dir=data_dir)
    assert rich.returncode == 0 and newest["id"] in rich.stdout


def test_an_ambiguous_prefix_is_refused(store_copy):
    ids = [s["id"] for s in sessions_json(store_copy)]
    conn = sqlite3.connect(store_path(store_copy))
    conn.execute("UPDATE sessions SET id=? WHERE id=?", ("abc-1", ids[0]))
    conn.execute("UPDATE sessions SET id=? WHERE id=?", ("abc-2", ids[1]))
    conn.commit()
    conn.close()
    result = run_cli("show", "abc", data_dir=store_copy)
    assert result.returncode != 0 and "ambiguous" in result.stderr and "Traceback" not in result.stderr
    assert run_cli("show", "abc-1", "--json", data_dir=store_copy).returncode == 0


def test_delete_with_yes_removes_the_session_and_its_tokens(store_copy):
    before = sessions_json(store_copy)
    victim = before[0]["id"]
    result = run_cli("delete", victim[:8], "--yes", data_dir=store_copy)
    assert result.returncode == 0, result.stderr
    after = sessions_json(store_copy)
    assert [s["id"] for s in after] == [s["id"] for s in before[1:]]
    assert read_only_query(store_path(store_copy), "SELECT COUNT(*) FROM tokens WHERE session_id=?", (victim,)) == [(0,)]


def test_delete_without_yes_and_without_a_terminal_refuses(store_copy):
    before = sessions_json(store_copy)
    result = run_cli("delete", before[0]["id"], data_dir=store_copy)  # stdin is /dev/null: no tty to ask on
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "--yes" in lines[0] and "Traceback" not in result.stderr
    assert sessions_json(store_copy) == before


def test_sessions_on_a_fresh_data_dir_is_an_empty_list(tmp_path):
    assert sessions_json(tmp_path / "fresh") == []


def test_data_dir_flag_works_before_the_subcommand_too(collected):
    data_dir, _, _ = collected
    result = run_cli("--data-dir", str(data_dir), "sessions", "--json", data_dir=data_dir.parent / "unused")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 5
