"""Shared fixtures: a private data dir for every test, the embedded model loaded once, CLI helpers.

Nothing here fakes the code under test. Tests get real parts (the embedded model, real SQLite files,
real subprocesses and signals); where a fake is needed it is passed in (a ScriptedBackend, a
ManualClock, a shadow package on a subprocess's PYTHONPATH).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own TOKENLAT_DATA_DIR: the developer's real store is never touched."""
    data_dir = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(data_dir))
    # nothing may reach the network (a hub id must fail fast, not hang on a download)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return data_dir


@pytest.fixture(scope="session")
def embedded_backend():
    """The real embedded model (random weights), loaded once: loading costs a few seconds."""
    import torch

    from profiler.backends import BackendOptions, load_backend

    # One intra-op thread: on this shared 2-core box, two OpenMP threads competing with other
    # processes' work take ~500 ms per token instead of ~17 ms (measured). What the tests check
    # (records, cache, sampling) doesn't depend on the thread count; the session records it anyway.
    torch.set_num_threads(1)

    backend = load_backend(BackendOptions())
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def model_folder(embedded_backend, tmp_path_factory):
    """The embedded model saved to a folder (config, weights, byte-level tokenizer)."""
    from remote_servers import save_embedded_model

    return save_embedded_model(embedded_backend, tmp_path_factory.mktemp("served-model"))


@pytest.fixture(scope="session")
def served(model_folder, tmp_path_factory):
    """One real `transformers serve` on `model_folder` for the whole test session."""
    from remote_servers import TransformersServe

    server = TransformersServe(model_folder, tmp_path_factory.mktemp("serve-log") / "serve.log")
    yield server
    server.stop()


def cli_env(data_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """Environment of a CLI subprocess: this checkout importable, its own data dir, offline."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    if data_dir is not None:
        env["TOKENLAT_DATA_DIR"] = str(data_dir)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env["COLUMNS"] = "200"  # one error line must not be wrapped by rich
    env.setdefault("OMP_NUM_THREADS", "1")  # see embedded_backend: a contended 2-core box and OpenMP
    env.update(extra)
    return env


def run_cli(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120,
            stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """`python -m tui ARGS` in a real subprocess."""
    return subprocess.run([sys.executable, "-m", "tui", *args], cwd=REPO_ROOT, env=env or cli_env(data_dir),
                          capture_output=True, text=True, timeout=timeout, stdin=stdin)


def one_row_csv(path: Path, column: str | None = None, value: str = "", prompt: str = "new") -> Path:
    """A one-token CSV in the plain format (prompt, 4 input tokens, 5.0 ms), with one more column if given."""
    extra_header, extra_cell = (f",{column}", f",{value}") if column else ("", "")
    path.write_text(f"Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms{extra_header}\n"
                    f"{prompt},4,4,1,5.0{extra_cell}\n")
    return path


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_only_query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Query a store without writing to it (the way an outside observer would)."""
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def wait_for_count(db: Path, sql: str, at_least: int, timeout_s: float = 60, poll_s: float = 0.2) -> bool:
    """Polls a COUNT query on a store another process is writing (it may not exist yet) until it reaches
    `at_least`; False if `timeout_s` passed first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(poll_s)
        try:
            if read_only_query(db, sql)[0][0] >= at_least:
                return True
        except Exception:  # noqa: BLE001 - the store may not exist yet, or be mid-creation
            continue
    return False


def assert_one_error_line(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """A refusal as the CLI must give it: exit 2, one `tokenlat-tui: error:` line holding `fragments`, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("tokenlat-tui: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


NOISE_WARNING = "warning: noisy machine"
"""`collect` warns on a busy machine (profiler/machine_noise.py); CI's own load can raise it at random,
so a test that counts a command's error lines leaves that one line out (tests/test_machine_noise.py
checks the warning itself)."""


def error_lines(stderr: str) -> list[str]:
    """stderr's non-blank lines, less the noisy-machine warning that CI's own load may cause."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(NOISE_WARNING)]


def table_rows(text: str) -> dict[str, dict[str, str]]:
    """The rich table's rows by short id, keyed by column title."""
    lines = [line for line in text.splitlines() if line.startswith(("┃", "│"))]
    titles = [cell.strip() for cell in lines[0].strip("┃").split("┃")]
    rows = [dict(zip(titles, (cell.strip() for cell in line.strip("│").split("│")))) for line in lines[1:]]
    return {row["id"]: row for row in rows}
