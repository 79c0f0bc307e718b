"""Export never replaces what it didn't create, writes to stdout, and leaves no temp file (issue 8 §4).

Before: `--force` replaced a character device, a FIFO or a symlink with a regular file;
`-o /dev/stdout` was refused as "already exists"; `-o - > /dev/full` printed a traceback; a
SIGTERM/SIGHUP during export left a hidden `.NAME.<hex>.tmp` of up to 44 MB beside the target.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, cli_env, run_cli, assert_one_error_line
from profiler.export_target import STALE_AFTER_S, remove_stale_temps
from profiler.records import DECODE, PREFILL, SessionMeta, TokenRecord
from profiler.store import SessionStore


def make_store(data_dir: Path, sessions: int = 2, tokens: int = 3) -> Path:
    """A store of `sessions` finished sessions of `tokens` tokens each, one of them holding a NUL token."""
    store = SessionStore(data_dir)
    batch = []
    for number in range(sessions):
        rows = [TokenRecord(k, 10 + k, 1.0 + k / 8, PREFILL if k == 1 else DECODE, k, "t\x00" if k == 2 else "tok",
                            1.75e9 + k) for k in range(1, tokens + 1)]
        batch.append((SessionMeta(prompt="a prompt " * 20, input_tokens=11, model="m"),
                      {"id": f"s{number:04d}", "started": f"2025-01-01T00:00:00.{number:06d}+00:00"}, rows))
    store.import_sessions(batch)
    store.close()
    return data_dir


def listing(directory: Path) -> dict[str, int]:
    """name -> st_mode (not following links) of everything in `directory`."""
    return {entry.name: entry.stat(follow_symlinks=False).st_mode for entry in os.scandir(directory)}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_store(tmp_path / "data")


# -- what --force may replace


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fifo", "symlink_to_file", "symlink_to_stdout", "dangling_symlink", "char_device"])
def test_force_replaces_only_regular_files(kind: str, data_dir: Path, tmp_path: Path) -> None:
    # GIVEN a name that is not a regular file
    out = tmp_path / "out"
    out.mkdir()
    target = out / "tokens.csv"
    precious = out / "precious.csv"
    precious.write_text("not ours\n")
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink_to_file":
        target.symlink_to(precious)
    elif kind == "symlink_to_stdout":
        target.symlink_to("/proc/self/fd/1")
    elif kind == "dangling_symlink":
        target.symlink_to(out / "nowhere.csv")
    else:
        if os.geteuid() != 0:
            pytest.skip("making a character device needs root")
        os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null
    before = listing(out)
    # WHEN exported onto it with --force: one line, and nothing there changed
    result = run_cli("export", "--all", "-o", str(target), "--force", data_dir=data_dir)
    assert_one_error_line(result, str(target), "not a regular file")
    assert listing(out) == before
    assert precious.read_text() == "not ours\n"


@pytest.mark.slow
def test_without_force_a_fifo_is_not_written_either(data_dir: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert_one_error_line(run_cli("export", "--all", "-o", str(tmp_path / "pipe"), data_dir=data_dir),
                          "already exists")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)


@pytest.mark.slow
def test_force_still_replaces_a_regular_file(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "old.csv"
    target.write_text("old\n")
    assert run_cli("export", "--all", "-o", str(target), "--force", data_dir=data_dir).returncode == 0
    assert target.read_text(encoding="utf-8").startswith("Prompt_ID,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "old.csv"]


# -- standard output


@pytest.mark.slow
@pytest.mark.parametrize("name", ["-", "/dev/stdout"])
def test_stdout_names_write_the_csv_to_stdout(name: str, data_dir: Path) -> None:
    result = run_cli("export", "--all", "-o", name, data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Prompt_ID,Input_Token_Length") and len(lines) == 1 + 6
    assert "exported 6 token rows" in result.stderr  # the summary stays out of the CSV


@pytest.mark.slow
def test_a_full_stdout_is_one_line(data_dir: Path) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "tui", "export", "--all", "-o", "-"], cwd=REPO_ROOT,
                                env=cli_env(data_dir), stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert_one_error_line(result, "standard output", "No space left on device")


@pytest.mark.slow
def test_a_reader_that_goes_away_is_quiet(tmp_path: Path) -> None:
    data_dir = make_store(tmp_path / "data", sessions=20, tokens=2000)  # more than a pipe's buffer
    export = subprocess.Popen([sys.executable, "-m", "tui", "export", "--all", "-o", "-"], cwd=REPO_ROOT,
                              env=cli_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert export.stdout.readline().startswith(b"Prompt_ID,")
    export.stdout.close()  # like `| head -1`
    _, stderr = export.communicate(timeout=60)
    assert export.returncode == 1 and b"Traceback" not in stderr and b"Exception ignored" not in stderr, stderr


@pytest.mark.slow
def test_nul_in_a_token_round_trips(data_dir: Path, tmp_path: Path) -> None:
    # a byte-level tokenizer can decode a token to "\x00": the row is quoted, so it imports back
    assert run_cli("export", "--all", "-o", str(tmp_path / "nul.csv"), data_dir=data_dir).returncode == 0
    imported = run_cli("import", str(tmp_path / "nul.csv"), data_dir=tmp_path / "copy")
    assert imported.returncode == 0, imported.stderr
    assert SessionStore(tmp_path / "copy").token_rows() == SessionStore(data_dir).token_rows()


# -- signals and leftovers


def temp_files(directory: Path, name: str) -> list[Path]:
    return sorted(directory.glob(f".{name}.*.tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_export_removes_the_temp_file(signum: int, tmp_path: Path) -> None:
    # GIVEN an export of a large store, caught while it writes its temp file
    data_dir = make_store(tmp_path / "data", sessions=30, tokens=3000)
    out = tmp_path / "out"
    out.mkdir()
    export = subprocess.Popen([sys.executable, "-m", "tui", "export", "--all", "-o", str(out / "big.csv")],
                              cwd=REPO_ROOT, env=cli_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    deadline = time.monotonic() + 120
    while not temp_files(out, "big.csv") and export.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert temp_files(out, "big.csv"), "the export ended before its temp file was seen"
    # WHEN the signal arrives mid-write
    export.send_signal(signum)
    _, stderr = export.communicate(timeout=60)
    # THEN it exits 128 + N with one line, and leaves nothing behind
    assert export.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines() == ["tokenlat-tui: interrupted"]
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_the_next_export_sweeps_what_sigkill_left(tmp_path: Path) -> None:
    # GIVEN an export killed with SIGKILL mid-write: its temp file stays
    data_dir = make_store(tmp_path / "data", sessions=30, tokens=3000)
    out = tmp_path / "out"
    out.mkdir()
    export = subprocess.Popen([sys.executable, "-m", "tui", "export", "--all", "-o", str(out / "big.csv")],
                              cwd=REPO_ROOT, env=cli_env(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not temp_files(out, "big.csv") and export.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    export.kill()
    export.wait(timeout=60)
    left = temp_files(out, "big.csv")
    assert len(left) == 1 and f".{export.pid}." in left[0].name
    # WHEN the next export to that name runs: the leftover is gone, the export is there
    result = run_cli("export", "s0000", "-o", str(out / "big.csv"), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["big.csv"]


def test_stale_temp_rules(tmp_path: Path) -> None:
    # GIVEN temp files of several writers and ages, and look-alikes that aren't ours
    target = tmp_path / "tokens.csv"
    live_pid = os.getppid()  # alive, and not this process
    dead_pid = int(Path("/proc/sys/kernel/pid_max").read_text())  # pids stay below pid_max: never alive
    names = {
        "live_fresh": f".tokens.csv.{live_pid}.0123456789ab.tmp",
        "live_old": f".tokens.csv.{live_pid}.0123456789ac.tmp",
        "dead_fresh": f".tokens.csv.{dead_pid}.0123456789ad.tmp",
        "other_target": f".other.csv.{dead_pid}.0123456789ae.tmp",
        "not_our_pattern": f".tokens.csv.{dead_pid}.tmp",
        "symlink": f".tokens.csv.{dead_pid}.0123456789af.tmp",
    }
    for key, name in names.items():
        if key == "symlink":
            (tmp_path / name).symlink_to(tmp_path / "elsewhere")
        else:
            (tmp_path / name).write_text("partial")
    old = time.time() - STALE_AFTER_S - 5
    os.utime(tmp_path / names["live_old"], (old, old))
    # WHEN swept before an export to tokens.csv
    removed = {path.name for path in remove_stale_temps(target)}
    # THEN only ours, of that name, regular, whose writer is dead or which went untouched too long
    assert removed == {names["live_old"], names["dead_fresh"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        names[key] for key in ("live_fresh", "other_target", "not_our_pattern", "symlink"))


def test_signal_guard_replaces_only_default_handlers() -> None:
    # the app has its own SIGTERM handler (it leaves through its event loop): an export inside
    # the app must keep it; nohup's ignored SIGHUP stays ignored; defaults become exceptions
    from profiler.signal_guard import SignalInterrupt, signals_raise

    def own_handler(signum, frame):  # stands for the app's
        pass

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        signal.signal(signal.SIGTERM, own_handler)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with signals_raise():
            assert signal.getsignal(signal.SIGTERM) is own_handler
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            with pytest.raises(SignalInterrupt) as raised:
                signal.raise_signal(signal.SIGINT)
            assert raised.value.signum == signal.SIGINT
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
