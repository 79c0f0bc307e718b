"""Whether a store file's contents are ours: our application_id, exactly our schema, no foreign code.

A store is an SQLite file anyone can edit. A trigger in it runs on our writes (it could copy every
prompt elsewhere or delete sessions), a view runs when read, and a table with another definition
breaks our inserts in ways that read like damage. So before a store is used, every object in its
schema is compared with what our own migrations create for its version (profiler/store/schema.py,
built once in memory), and anything else is refused in one line naming it. Defence in depth:
connections also run with `trusted_schema=OFF` (profiler/store/identify.py), so even an object we
missed could call no function with side effects.

Also here: the files SQLite opens beside the store (-wal, -shm, -journal). SQLite follows a link
there without asking, so one that is a link (or anything but a regular file) is refused before
SQLite opens the store.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import stat
from pathlib import Path

from profiler.errors import StoreError
from profiler.store.schema import APPLICATION_ID, MIGRATIONS

LEFT_UNTOUCHED = "left untouched"
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")
_FOREIGN_KINDS = ("trigger", "view")
"""Object types we never create: any one of them is code somebody else put there."""
_LISTED = 4
"""How many foreign objects a refusal names before 'and N more' (one line)."""


def check_companions(path: Path) -> None:
    """Refuse a -wal/-shm/-journal beside `path` that is a link or not a regular file (never opened)."""
    for suffix in COMPANION_SUFFIXES:
        companion = path.with_name(path.name + suffix)
        try:
            info = os.lstat(companion)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"can't look at {companion}: {exc.strerror or exc}") from None
        if stat.S_ISLNK(info.st_mode):
            raise StoreError(f"{companion} is a symbolic link to {os.readlink(companion)}: SQLite would write "
                             f"through it; the session store {path} is {LEFT_UNTOUCHED}")
        if not stat.S_ISREG(info.st_mode):
            raise StoreError(f"{companion} is not a regular file: SQLite can't use it as the store's {suffix[1:]} "
                             f"file; the session store {path} is {LEFT_UNTOUCHED}")


def check_application_id(conn: sqlite3.Connection, path: Path) -> None:
    """Our id, or 0: stores made before the id was set (schema <= 4 at first) are ours by store_info."""
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if application_id not in (0, APPLICATION_ID):
        raise StoreError(f"{path} is marked as another program's database (application_id {application_id}), "
                         f"not a tokenlat-tui store; {LEFT_UNTOUCHED}")


def check_schema(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Refuse, naming them, the objects of `conn`'s schema that our migrations to `version` don't create."""
    found = _objects(conn)
    expected = expected_objects(version)
    foreign = sorted(key for key in found if key[0] in _FOREIGN_KINDS)
    if foreign:
        raise StoreError(f"{path} holds {_names(foreign)} that tokenlat-tui didn't create (it would run on our "
                         f"reads or writes); {LEFT_UNTOUCHED}: remove it with the sqlite3 shell if it is yours")
    changed = sorted(key for key, sql in found.items() if expected.get(key) != sql)
    missing = sorted(key for key in expected if key not in found)
    if changed or missing:
        parts = []
        if changed:
            parts.append(f"{_names(changed)} not as tokenlat-tui made {'it' if len(changed) == 1 else 'them'}")
        if missing:
            parts.append(f"{_names(missing)} missing")
        raise StoreError(f"{path} doesn't have tokenlat-tui's schema {version} ({'; '.join(parts)}); "
                         f"{LEFT_UNTOUCHED}")


@functools.lru_cache(maxsize=None)
def expected_objects(version: int) -> dict[tuple[str, str], str]:
    """(type, name) -> normalised SQL of every object our migrations create up to `version` (in memory)."""
    conn = sqlite3.connect(":memory:")
    try:
        for step in range(version):
            for statement in MIGRATIONS[step].split(";"):
                if statement.strip():
                    conn.execute(statement)
        return _objects(conn)
    finally:
        conn.close()


def _objects(conn: sqlite3.Connection) -> dict[tuple[str, str], str]:
    # sqlite_* objects are SQLite's own (autoindexes, ANALYZE statistics): they hold no code
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
    return {(kind, name): _normalise(sql) for kind, name, sql in rows}


def _normalise(sql: str | None) -> str:
    """Whitespace-insensitive: `ALTER TABLE ... ADD COLUMN` edits the stored text, spacing may differ."""
    return re.sub(r"\s+", " ", sql or "").strip()


def _names(keys: list[tuple[str, str]]) -> str:
    from profiler.printable import printable_line  # names come from the file: never raw to a terminal

    shown = ", ".join(f"{kind} {printable_line(name)[:60]!s}" for kind, name in keys[:_LISTED])
    return shown + (f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else "")
