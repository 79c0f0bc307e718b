"""Batched collects on one store beside a plain collect and the command loops (issue 12 §2 with issue 8
§1): a batch's B sessions, flushed in one transaction (store/writer.py flush_together), lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, cli_env, read_only_query
from profiler.store import store_path
from test_store_concurrency import (COLLECT_PROMPT, REPEATS, TOKENS_PER_SESSION, beside_command_loops, check_collects,
                                    check_store, report, start_collect)

pytestmark = pytest.mark.slow

BATCH = 4


def start_batch_collect(data_dir: Path, n: int, work: Path) -> subprocess.Popen:
    """`collect --batch 4`: its 4 sessions flush in one transaction (store/writer.py flush_together)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tui", "collect", f"{COLLECT_PROMPT} batch {n}", "--batch", str(BATCH),
         "--warmup", "0", "--repeat", str(REPEATS), "--max-new-tokens", str(TOKENS_PER_SESSION), "--ignore-eos",
         "--json"],
        cwd=REPO_ROOT, env=cli_env(data_dir), stdin=subprocess.DEVNULL, stdout=open(work / f"batch-{n}.json", "w"),
        stderr=open(work / f"batch-{n}.err", "w"))


def test_batched_collects_beside_a_collect_and_every_command_in_loops_lose_nothing(tmp_path):
    def start(data_dir: Path, work: Path) -> list[subprocess.Popen]:
        return [start_batch_collect(data_dir, n, work) for n in range(2)] + [start_collect(data_dir, 0, work)]

    loops, writers, data_dir, work = beside_command_loops(tmp_path, start, timeout=900)
    batches, collects = writers[:2], writers[2:]
    checked = check_collects(collects, data_dir, work)
    db = store_path(data_dir)
    for n, proc in enumerate(batches):
        assert proc.returncode == 0, (work / f"batch-{n}.err").read_text()
        reported = json.loads((work / f"batch-{n}.json").read_text())
        assert len(reported["sessions"]) == BATCH * REPEATS
        for session in reported["sessions"]:
            stored = read_only_query(db, "SELECT s.status, s.tokens, COUNT(t.k), s.run_id FROM sessions s "
                                         "JOIN tokens t ON t.session_id = s.id WHERE s.id=?", (session["id"],))
            assert stored == [("finished", TOKENS_PER_SESSION, TOKENS_PER_SESSION, reported["run"]["id"])], stored
            checked += 1
    assert loops.failures == [], loops.failures[:5]
    check_store(data_dir)
    report("2 batched collects (batch 4) + 1 collect + 5 command loops", loops, checked,
           checked * TOKENS_PER_SESSION)
