"""Where an export (or any file this project writes) may go, and its temporary file beside the target.

`replacing_file` / `write_file` are the one writer for every file: CSV export, `fit --save`,
`sweep --out/--plot`, screenshots. Rules (README, "export, import"):
- `-`, /dev/stdout, /dev/fd/1 and /proc/self/fd/1 mean standard output.
- Without --force an existing name (file, link, device, anything) is never replaced.
- With --force only a regular file is replaced. A symbolic link is refused, never followed:
  replacing its target, or the link with a file, both change something the user didn't name.
  Devices, FIFOs and sockets are refused: replacing /dev/null with a CSV (as root) or a FIFO
  another program reads from would break things outside this tool.
- The temporary file is `.NAME.<pid>.<hex>.tmp` beside the target: the pid says whether its
  writer is alive, so the next export to that directory can sweep leftovers of a SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
import uuid
from pathlib import Path
from typing import IO, Callable, Iterator

from profiler.errors import InputError

STDOUT = "-"
"""Pass as the path to write the CSV to standard output."""
STDOUT_NAMES = {STDOUT, "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"}
STDOUT_HINT = "give another name, or -o - for standard output"
"""What a refused export target suggests; writers without a stdout form pass their own `hint`."""

STALE_AFTER_S = 60.0
"""A temp file untouched this long is a leftover even if its pid was reused: a live export
writes to it continuously."""

_KINDS = [(stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")]


def is_stdout(path: str | os.PathLike) -> bool:
    return str(path) in STDOUT_NAMES


def check_writable_target(target: Path, *, force: bool, hint: str = STDOUT_HINT) -> None:
    """Refuse early, before any work, a target we must not or cannot write."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise InputError(f"can't write {target}: {exc.strerror or exc}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise InputError(f"{target} is a directory; give a file name")
    if mode is not None and not force:
        raise InputError(f"{target} already exists; use --force to overwrite it")
    if mode is not None:
        refuse_unless_regular(target, mode, hint=hint)
    if not target.parent.is_dir():
        raise InputError(f"can't write {target}: directory {target.parent} does not exist")


def refuse_unless_regular(target: Path, mode: int, *, hint: str = STDOUT_HINT) -> None:
    """--force replaces regular files only (see the module's rules)."""
    for test, kind in _KINDS:
        if test(mode):
            raise InputError(f"{target} is {kind}, not a regular file; --force only replaces regular files ({hint})")


def temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def remove_stale_temps(target: Path, *, now: float | None = None) -> list[Path]:
    """Delete our own leftover temp files for `target`: writer dead, or untouched for STALE_AFTER_S.

    Only files matching our naming, owned by this user, and regular (never a link) are touched.
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[0-9a-f]{{12}}\.tmp")
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed  # an unreadable directory: the export itself will say why it can't write
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if not match:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            continue
        pid = int(match.group(1))
        if _process_alive(pid) and now - info.st_mtime < STALE_AFTER_S:
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass  # gone already (another export swept it) or not ours to remove
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another export of this process (the app) may be writing it now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process: assume alive, the age rule still applies
    return True


def publish(temp: Path, target: Path, *, force: bool, hint: str = STDOUT_HINT) -> None:
    """Move the finished temp file to `target`."""
    if force:
        # the early check ran before the export; look again just before replacing
        try:
            refuse_unless_regular(target, os.lstat(target).st_mode, hint=hint)
        except FileNotFoundError:
            pass
        os.replace(temp, target)
        return
    # A hard link fails if `target` exists, so a file created by someone else after our
    # early check is still never clobbered (os.replace would silently overwrite it).
    try:
        os.link(temp, target)
    except FileExistsError:
        raise InputError(f"{target} already exists; use --force to overwrite it") from None
    except OSError:
        # filesystems without hard links (some network or FAT mounts): best effort
        if os.path.lexists(target):
            raise InputError(f"{target} already exists; use --force to overwrite it") from None
        os.replace(temp, target)


FILE_HINT = "give another name"


@contextlib.contextmanager
def replacing_file(path: str | os.PathLike, *, force: bool, binary: bool = False,
                   hint: str = FILE_HINT) -> Iterator[IO]:
    """The one way the project writes a file (a fitted model, sweep tables and plots, screenshots).

    Yields a file open on a fresh temp file beside the target; when the block ends without an
    exception the temp file is synced and renamed onto the target under this module's rules
    (regular files only, nothing replaced without `force`, never through a link). On any error, a
    signal included, the temp file is removed and the target is as it was. OSError becomes one
    InputError line naming the target.
    """
    from profiler.signal_guard import signals_raise  # the signal module only where a file is written

    target = Path(path).expanduser()
    check_writable_target(target, force=force, hint=hint)
    remove_stale_temps(target)
    temp = temp_path(target)
    try:
        with signals_raise():  # SIGTERM/SIGHUP raise here, so the finally below removes the temp file
            try:
                # 0o666: the umask decides the mode, as for any new file (mkstemp would make it 0600);
                # O_EXCL | O_NOFOLLOW: a name planted at the temp path is never written through
                descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
                mode = "wb" if binary else "w"
                with open(descriptor, mode, **({} if binary else {"encoding": "utf-8", "newline": ""})) as handle:
                    yield handle
                    handle.flush()
                    os.fsync(handle.fileno())
                publish(temp, target, force=force, hint=hint)
            finally:
                temp.unlink(missing_ok=True)
    except OSError as exc:
        raise InputError(f"can't write {target}: {exc.strerror or exc}") from None


def write_file(path: str | os.PathLike, data: str | bytes | Callable[[IO], object], *, force: bool,
               hint: str = FILE_HINT) -> Path:
    """Write `data` (text, bytes, or a function that writes to the open file) through `replacing_file`;
    returns the target's path. A function's file is binary: it is handed to writers such as savefig."""
    binary = not isinstance(data, str)
    with replacing_file(path, force=force, binary=binary, hint=hint) as handle:
        if callable(data):
            data(handle)
        else:
            handle.write(data)
    return Path(path).expanduser()
