"""Where the store lives: --data-dir, then TOKENLAT_DATA_DIR, then platformdirs' user data dir."""

from __future__ import annotations

import os
from pathlib import Path

STORE_FILENAME = "sessions.sqlite3"
DATA_DIR_ENV = "TOKENLAT_DATA_DIR"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    if data_dir:
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    import platformdirs  # deferred: only commands that touch the store need it

    return platformdirs.user_data_path("tokenlat-tui")


def store_path(data_dir: str | os.PathLike | None = None) -> Path:
    return resolve_data_dir(data_dir) / STORE_FILENAME


STORE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def names_the_store(candidate: str | os.PathLike, store: str | os.PathLike) -> bool:
    """True if `candidate` is the store file `store` or one of its -wal/-shm/-journal files (links followed).

    For commands that write or read user-named files (export -o, import): opening and closing the
    store with a plain descriptor drops this process's SQLite locks, and replacing it loses it.
    """
    candidate_real = os.path.realpath(candidate)
    store_real = os.path.realpath(store)
    return any(candidate_real == store_real + suffix for suffix in STORE_COMPANIONS)
