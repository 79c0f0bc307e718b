"""benchmarks/remote_client.py end to end, small: both schedule servers stream what they promise and the
benchmark's JSON line carries every figure. No timing is asserted (benchmarks/README.md quotes them)."""

import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, cli_env

pytestmark = pytest.mark.slow


def test_the_benchmark_runs_both_schedule_servers_and_counts_every_token(tmp_path):
    result = subprocess.run(
        [sys.executable, "benchmarks/remote_client.py", "--levels", "1,3", "--chunks", "12", "--rounds", "1",
         "--stamps", "kernel", "--servers", "raw,aiohttp"],
        cwd=REPO_ROOT, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for kind in ("raw", "aiohttp"):
        for level in ("1", "3"):
            level_figures = figures["servers"][kind]["kernel"][level]
            # 12 content chunks a stream, every 4th of 3 tokens: 18 tokens, counted from per-chunk usage
            assert level_figures["tokens"] == 18 * int(level) and level_figures["tokens_counted_right"]
            assert level_figures["token_sources"] == ["usage_per_chunk"]
            assert level_figures["gaps"] == 11 * int(level)  # 12 timed chunks a stream: 11 gaps
            assert level_figures["one_way_early"] == 0  # the kernel's stamp is never before the server sent
            assert level_figures["server_cpu_us_per_chunk"] is not None
