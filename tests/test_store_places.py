"""Full disks and read-only places (issue 8 §2), on a real small tmpfs and real read-only mounts.

Root is needed to mount (tmpfs, read-only bind mounts): as root, permission bits don't stop writes,
so a read-only place must be a read-only mount. Not root: the read-only cases use chmod, and the
full-disk cases are skipped (no way to get a small real disk without mounting one).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, cli_env, error_lines, file_digest, read_only_query, run_cli
from profiler.store import SessionStore, store_path

pytestmark = pytest.mark.slow

IS_ROOT = os.geteuid() == 0
SEED_CSV = "Prompt_ID,Input_Token_Length,Context_Size,Token_Index_k,Per_Token_Latency_ms\n" + "".join(
    f"{prompt},{n},{n + k - 1},{k},{5 + 0.01 * (n + k) + (20 if k == 1 else 0):.3f}\n"
    for prompt, n in (("seed-a", 8), ("seed-b", 16), ("seed-c", 24)) for k in range(1, 41))
SEED_IDS = ["seed-a", "seed-b", "seed-c"]


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def unmount(path: Path) -> None:
    result = subprocess.run(["umount", "-l", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, f"umount {path}: {result.stderr}"


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MiB tmpfs."""
    if not IS_ROOT:
        pytest.skip("a real small disk needs a tmpfs mount, which needs root; not running as root")
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"can't mount a tmpfs here: {getattr(exc, 'stderr', '') or exc}")
    try:
        yield disk
    finally:
        unmount(disk)


@contextlib.contextmanager
def read_only(path: Path):
    """`path` (a folder or a file) read-only for this test's processes, then writable again."""
    if IS_ROOT:
        mount("--bind", str(path), str(path))
        try:
            mount("-o", "remount,ro,bind", str(path))
            yield
        finally:
            unmount(path)
    else:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill `disk` with a ballast file, then give back `leave` bytes; the ballast is returned."""
    ballast = disk / "ballast"
    with open(ballast, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    if leave:
        os.truncate(ballast, max(0, ballast.stat().st_size - leave))
    return ballast


def new_csv(work: Path) -> str:
    """A CSV with one session the store doesn't have yet."""
    csv = work / "new.csv"
    csv.write_text(SEED_CSV.replace("seed-a", "new-a").split("seed-b")[0].rsplit("\n", 1)[0] + "\n")
    return str(csv)


def seeded_store(data_dir: Path, work: Path) -> None:
    csv = work / "seed.csv"
    csv.write_text(SEED_CSV)
    result = run_cli("import", str(csv), data_dir=data_dir)
    assert result.returncode == 0, result.stderr


ORPHAN_WRITER = """
import os
from profiler.records import SessionMeta, TokenRecord
from profiler.store import SessionStore

writer = SessionStore().begin_session(SessionMeta(prompt="orphan", input_tokens=4, model="m"))
for k in range(1, 31):
    writer.add_token(TokenRecord(k=k, context_size=3 + k, latency_ms=5.0, phase="prefill" if k == 1 else "decode",
                                 token_id=97, token_text="a", wall_time=1.7e9 + k))
writer.flush()
os._exit(0)  # like a kill: no close, the session stays `running`, the -wal is left behind
"""


def add_orphan(data_dir: Path, leave_wal: bool) -> None:
    subprocess.run([sys.executable, "-c", ORPHAN_WRITER], cwd=REPO_ROOT, env=cli_env(data_dir), check=True,
                   timeout=60)
    db = store_path(data_dir)
    if not leave_wal:  # the last connection to close checkpoints and removes -wal and -shm
        read_only_query(db, "SELECT COUNT(*) FROM sessions")
        import sqlite3

        conn = sqlite3.connect(db)
        conn.execute("SELECT COUNT(*) FROM sessions").fetchall()
        conn.close()
        assert not Path(f"{db}-wal").exists()
    else:
        assert Path(f"{db}-wal").stat().st_size > 0


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """Exit 2 and exactly one error line (beside at most the skipped-sweep notice); returns it."""
    lines = error_lines(result.stderr)
    errors = [line for line in lines if line.startswith("tokenlat-tui: error:")]
    notes = [line for line in lines if line.startswith("tokenlat-tui: note:")]
    model = [line for line in lines if line.startswith("model ")]  # collect says which model it loaded
    assert result.returncode == 2 and len(errors) == 1 and len(notes) <= 1, result.stderr
    assert len(lines) == len(errors) + len(notes) + len(model), result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


def listing(directory: Path) -> list[tuple]:
    return sorted((p.name, p.stat().st_size) for p in directory.iterdir())


def reads_work(data_dir: Path, work: Path, *, expect_notice: bool) -> dict:
    """sessions, show, export to another disk and fit all succeed; returns the listed sessions by prompt."""
    listed = run_cli("sessions", "--json", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    notices = [line for line in error_lines(listed.stderr) if line.startswith("tokenlat-tui: note:")]
    assert len(error_lines(listed.stderr)) == len(notices) == (1 if expect_notice else 0), listed.stderr
    if expect_notice:
        assert "still marked running" in notices[0], notices
    sessions = {s["prompt"] or s["id"]: s for s in json.loads(listed.stdout)}
    some = next(iter(sessions.values()))
    shown = run_cli("show", some["id"], "--json", data_dir=data_dir)
    assert shown.returncode == 0, shown.stderr
    assert len(json.loads(shown.stdout)["tokens"]) == some["tokens"]
    out = work / "exported.csv"
    exported = run_cli("export", "--all", "-o", str(out), "--force", "--json", data_dir=data_dir)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["rows"] == sum(s["tokens"] for s in sessions.values())
    fitted = run_cli("fit", *SEED_IDS, "--json", data_dir=data_dir)
    assert fitted.returncode == 0, fitted.stderr
    return sessions


# -- full disk

def test_collect_on_a_disk_that_fills_up_says_so_in_one_line_and_keeps_what_was_flushed(small_disk, tmp_path):
    data_dir = small_disk / "data"
    seeded_store(data_dir, tmp_path)
    db = store_path(data_dir)
    ballast = fill(small_disk, leave=192 * 1024)
    result = run_cli("collect", "until the disk is full", "--max-new-tokens", "4000", "--ignore-eos", "--warmup", "0",
                     "--json", data_dir=data_dir, timeout=600)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "rollback" not in result.stderr
    ours = [line for line in error_lines(result.stderr) if line.startswith("tokenlat-tui:")]
    assert len(ours) == 1 and ours[0].startswith("tokenlat-tui: error: disk full"), result.stderr
    assert str(db) in ours[0] and str(small_disk) in ours[0], ours[0]

    # what the failed process left: the session ended with its reason, or still `running` for the sweep
    (status, error, kept), = read_only_query(
        db, "SELECT status, error, (SELECT COUNT(*) FROM tokens t WHERE t.session_id = s.id) FROM sessions s "
            "WHERE prompt='until the disk is full'")
    assert kept > 0, "nothing was flushed before the disk filled: this proves nothing"
    assert status in ("failed", "running"), status
    if status == "failed":
        assert "disk full" in error
    ks = [k for (k,) in read_only_query(db, "SELECT k FROM tokens t JOIN sessions s ON s.id = t.session_id "
                                            "WHERE s.prompt='until the disk is full' ORDER BY k")]
    assert ks == list(range(1, kept + 1))

    # every read-only command works while the disk is still full
    sessions = reads_work(data_dir, tmp_path, expect_notice=status == "running")
    assert sessions["until the disk is full"]["tokens"] == kept

    # with room again, the next command leaves nothing running and the store is sound
    ballast.unlink()
    listed = run_cli("sessions", "--json", data_dir=data_dir)
    assert listed.returncode == 0 and error_lines(listed.stderr) == [], listed.stderr
    final = {s["prompt"] or s["id"]: s for s in json.loads(listed.stdout)}
    assert final["until the disk is full"]["status"] in ("failed", "interrupted")
    assert final["until the disk is full"]["tokens"] == kept
    assert read_only_query(db, "PRAGMA integrity_check") == [("ok",)]


def test_reading_works_on_a_full_disk_with_no_room_for_the_index_file(small_disk, tmp_path):
    """A store closed cleanly has no -shm; on a full disk SQLite can't create one to read through."""
    data_dir = small_disk / "data"
    seeded_store(data_dir, tmp_path)
    add_orphan(data_dir, leave_wal=False)
    fill(small_disk)
    sessions = reads_work(data_dir, tmp_path, expect_notice=True)
    assert sessions["orphan"]["status"] == "running" and sessions["orphan"]["tokens"] == 30
    for args in (["delete", "--yes", "seed-a"], ["import", new_csv(tmp_path)]):
        assert "disk full" in one_error_line(run_cli(*args, data_dir=data_dir)), args


# -- read-only data dir and read-only store file

@pytest.mark.parametrize("leave_wal", [False, True], ids=["closed-cleanly", "writer-killed"])
def test_every_read_only_command_works_in_a_read_only_data_dir(tmp_path, leave_wal):
    data_dir = tmp_path / "data"
    seeded_store(data_dir, tmp_path)
    add_orphan(data_dir, leave_wal)
    before = (file_digest(store_path(data_dir)), listing(data_dir))
    with read_only(data_dir):
        sessions = reads_work(data_dir, tmp_path, expect_notice=True)
        assert sessions["orphan"]["status"] == "running" and sessions["orphan"]["tokens"] == 30
        for args in (["delete", "--yes", "seed-a"], ["import", new_csv(tmp_path)]):
            line = one_error_line(run_cli(*args, data_dir=data_dir))
            assert "read-only" in line and str(store_path(data_dir)) in line, (args, line)
        if not leave_wal:  # a collect too (once: it loads the model) stops at its first write
            collected = run_cli("collect", "nowhere to go", "--max-new-tokens", "4", "--warmup", "0", data_dir=data_dir)
            line = one_error_line(collected)
            assert "read-only" in line and str(store_path(data_dir)) in line, line
    assert (file_digest(store_path(data_dir)), listing(data_dir)) == before
    # writable again: the orphan is recovered as usual
    listed = json.loads(run_cli("sessions", "--json", data_dir=data_dir).stdout)
    assert {s["prompt"]: s["status"] for s in listed}["orphan"] == "interrupted"


@pytest.mark.parametrize("leave_wal", [False, True], ids=["closed-cleanly", "writer-killed"])
def test_every_read_only_command_works_on_a_read_only_store_file(tmp_path, leave_wal):
    data_dir = tmp_path / "data"
    seeded_store(data_dir, tmp_path)
    add_orphan(data_dir, leave_wal)
    db = store_path(data_dir)
    before = file_digest(db)
    with read_only(db):
        sessions = reads_work(data_dir, tmp_path, expect_notice=True)
        assert sessions["orphan"]["status"] == "running"
        assert "read-only" in one_error_line(run_cli("delete", "--yes", "seed-a", data_dir=data_dir))
    assert file_digest(db) == before
    assert SessionStore(data_dir).list_sessions()  # writable again
