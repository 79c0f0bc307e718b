"""Issue 23 §1: every file the project writes goes through one writer (`profiler.export_target.write_file`):
regular files only, nothing replaced without --force, a link, device or FIFO not even with it, and the
file written beside and renamed. `fit --save` used to replace whatever was at the path (as root, a
device node); `sweep --out/--plot --force` wrote into a FIFO or device."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import REPO_ROOT, assert_one_error_line
from profiler.errors import InputError
from profiler.export_target import write_file

KINDS = ("device", "fifo", "symlink", "file")
"""What can stand at a target path. The device is /dev/null's numbers (1, 3): if a write ever got
through to it, nothing is harmed; the test still sees the node replaced or not."""


def plant(path: Path, kind: str, tmp_path: Path) -> None:
    """Put a `kind` at `path` (skip the test where this machine can't make a device node)."""
    if kind == "device":
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        except (PermissionError, OSError) as exc:
            pytest.skip(f"can't mknod a character device here ({exc.strerror or exc}): needs root")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        elsewhere = tmp_path / "elsewhere.txt"
        elsewhere.write_text("someone else's\n")
        path.symlink_to(elsewhere)
    else:
        path.write_text("mine\n")


def fingerprint(path: Path) -> tuple:
    """What must not change: the node's kind, its device numbers, where a link points, a file's bytes."""
    info = os.lstat(path)
    target = os.readlink(path) if stat.S_ISLNK(info.st_mode) else None
    content = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
    return stat.S_IFMT(info.st_mode), info.st_rdev, info.st_ino, target, content


def no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("force", [False, True])
def test_write_file_refuses_what_it_must_not_replace(tmp_path, kind, force):
    target = tmp_path / "target.json"
    plant(target, kind, tmp_path)
    before = fingerprint(target)
    if force and kind == "file":
        write_file(target, "new\n", force=True)  # the one thing --force replaces: a regular file
        assert target.read_text() == "new\n" and stat.S_ISREG(os.lstat(target).st_mode)
    else:
        with pytest.raises(InputError) as refused:
            write_file(target, "new\n", force=force)
        assert str(target) in str(refused.value)
        assert fingerprint(target) == before
        if kind == "symlink":
            assert (tmp_path / "elsewhere.txt").read_text() == "someone else's\n"
    assert no_temp_files(tmp_path)


def test_write_file_writes_beside_and_renames_and_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "model.json"
    seen = []

    def writer(handle) -> None:
        # while the block runs, the target does not exist yet: a reader never sees half a file
        seen.append(target.exists())
        seen.extend(p.name for p in tmp_path.iterdir())
        handle.write(b"{}\n")

    assert write_file(target, writer, force=False) == target
    assert seen[0] is False and seen[1].startswith(".model.json.") and seen[1].endswith(".tmp")
    assert target.read_bytes() == b"{}\n"

    def failing(handle) -> None:
        handle.write(b"half")
        raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError):
        write_file(tmp_path / "other.json", failing, force=False)
    assert not (tmp_path / "other.json").exists() and no_temp_files(tmp_path)


@pytest.fixture
def fitted_store(capsys):
    """A store holding the example sessions, imported through the CLI."""
    from tui.cli import main

    assert main(["import", str(REPO_ROOT / "examples" / "latency-sample.csv")]) == 0
    capsys.readouterr()


def cli(argv: list[str], capsys):
    from tui.cli import main

    code = main(argv)
    captured = capsys.readouterr()
    return type("Result", (), {"returncode": code, "stderr": captured.err, "stdout": captured.out})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("force", [False, True])
def test_fit_save_goes_through_the_writer(tmp_path, fitted_store, capsys, kind, force):
    target = tmp_path / "model.json"
    plant(target, kind, tmp_path)
    before = fingerprint(target)
    argv = ["fit", "--predictor", "phase", "--save", str(target), *(["--force"] if force else [])]
    result = cli(argv, capsys)
    if force and kind == "file":
        assert result.returncode == 0, result.stderr
        assert '"predictor": "phase"' in target.read_text()
    else:
        assert_one_error_line(result, str(target), "--force" if not force else "not a regular file")
        assert fingerprint(target) == before
    assert no_temp_files(tmp_path)


def test_fit_save_writes_a_new_file(tmp_path, fitted_store, capsys):
    target = tmp_path / "model.json"
    result = cli(["fit", "--predictor", "phase", "--save", str(target)], capsys)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISREG(os.lstat(target).st_mode) and '"predictor": "phase"' in target.read_text()


@pytest.mark.parametrize("flag, name", [("--out", "cells.csv"), ("--plot", "latency_vs_batch.png")])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("force", [False, True])
def test_sweep_outputs_go_through_the_writer(tmp_path, capsys, flag, name, kind, force):
    """Refused before any cell runs (no model loads, nothing is stored); --force over a file: the test below."""
    if force and kind == "file":
        return  # test_sweep_force_replaces_regular_files_through_the_writer runs that sweep
    folder = tmp_path / "outputs"
    folder.mkdir()
    target = folder / name
    plant(target, kind, tmp_path)
    before = fingerprint(target)
    argv = ["sweep", "--batch", "1", "--max-new-tokens", "2", "--warmup", "0", "--prompt-count", "1",
            flag, str(folder), *(["--force"] if force else [])]
    result = cli(argv, capsys)
    assert_one_error_line(result, str(target))
    assert fingerprint(target) == before
    from profiler.store import SessionStore

    assert SessionStore().list_sessions() == []


@pytest.mark.slow
def test_sweep_force_replaces_regular_files_through_the_writer(tmp_path, capsys):
    """The one case the writer allows: --force over regular files (a one-cell sweep on the embedded model)."""
    out, plot = tmp_path / "tables", tmp_path / "plots"
    out.mkdir()
    plot.mkdir()
    (out / "cells.csv").write_text("mine\n")
    (plot / "frontier.svg").write_text("mine\n")
    argv = ["sweep", "--batch", "1", "--max-new-tokens", "2", "--warmup", "0", "--prompt-count", "1",
            "--out", str(out), "--plot", str(plot)]
    refused = cli(argv, capsys)
    assert_one_error_line(refused, "already exists", "--force")
    result = cli([*argv, "--force"], capsys)
    assert result.returncode == 0, result.stderr
    from profiler.sweep.results import TABLE_COLUMNS

    assert (out / "cells.csv").read_text().splitlines()[0] == ",".join(TABLE_COLUMNS)  # the table, not "mine"
    assert "<svg" in (plot / "frontier.svg").read_text()
    for folder in (out, plot):
        assert all(stat.S_ISREG(os.lstat(p).st_mode) for p in folder.iterdir()) and no_temp_files(folder)


async def test_screenshots_go_through_the_writer(tmp_path):
    """scripts/make_screenshots.py saves each SVG with the writer: nothing replaced without --force."""
    import importlib.util

    from profiler.backends import ScriptedBackend
    from profiler.clock import ManualClock
    from profiler.store import SessionStore
    from tui.app import make_app

    spec = importlib.util.spec_from_file_location("make_screenshots", REPO_ROOT / "scripts" / "make_screenshots.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    target = tmp_path / "main.svg"
    plant(target, "fifo", tmp_path)  # a FIFO: the old save_screenshot would have blocked opening it
    app = make_app(store=SessionStore(tmp_path / "data"), backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=(80, 24)):
        for force in (False, True):
            with pytest.raises(InputError):
                script.save(app, tmp_path, "main.svg", force)
        target.unlink()
        target.write_text("mine\n")
        with pytest.raises(InputError, match="already exists"):
            script.save(app, tmp_path, "main.svg", False)
        assert target.read_text() == "mine\n"
        script.save(app, tmp_path, "main.svg", True)
    assert target.read_text().startswith("<svg") and no_temp_files(tmp_path)
