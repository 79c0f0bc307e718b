"""`show ID` on a long session: the token table marks the tokens it leaves out with a "…" row."""

from __future__ import annotations

import pytest

from conftest import run_cli
from profiler.store import SessionStore
from seeded_sessions import Spec, seed_sessions


@pytest.mark.slow  # a CLI subprocess
def test_the_token_table_says_where_it_skips(tmp_path):
    data_dir = tmp_path / "data"
    seed_sessions(SessionStore(data_dir), [Spec("a" * 32, "long", tokens=200), Spec("b" * 32, "short", tokens=40)])
    long = run_cli("show", "a" * 8, data_dir=data_dir)
    assert long.returncode == 0, long.stderr
    rows = [line for line in long.stdout.splitlines() if line.startswith("│")]
    ks = [line.strip("│").split("│")[0].strip() for line in rows]
    gap = ks.index("…")
    # k 1..20, then the gap row, then k 181..200: the row sits exactly where the numbers jump
    assert ks[:gap] == [str(k) for k in range(1, 21)] and ks[gap + 1:] == [str(k) for k in range(181, 201)]
    assert "160 tokens not shown (k 21–180)" in rows[gap]
    short = run_cli("show", "b" * 8, data_dir=data_dir)
    assert "…" not in "".join(line.strip("│").split("│")[0] for line in short.stdout.splitlines()
                              if line.startswith("│"))  # every token shown: no gap row
