"""Has the store changed since the last look? Cheap enough to ask twice a second with 10k sessions.

`PRAGMA data_version` on a connection kept open for the purpose changes whenever another
connection (any process, this one's other connections included) commits; asking it reads no table.
Only when it moved is the sessions table looked at, and only through what SQLite keeps at hand:
its row count and the id on its largest rowid (a session added or deleted) and the ids on the status index that
are `running` (a session started or ended). A commit that changed none of those wrote tokens: the
running sessions' figures moved, the listing did not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from profiler.records import RUNNING
from profiler.store.connection import open_connection

LISTING_SQL = "SELECT count(*), (SELECT id FROM sessions ORDER BY rowid DESC LIMIT 1) FROM sessions"
"""A session added or deleted: the count moves, or the newest row's id does. A new row always takes
the largest rowid, but SQLite reuses a deleted largest rowid, so the id is compared, not the rowid."""
RUNNING_SQL = "SELECT id FROM sessions WHERE status=? ORDER BY id"
"""A session started or ended: read off the status index, not the table."""


@dataclass(frozen=True)
class StoreChange:
    """What a look found: `listing` — sessions were added, deleted or changed status (read the list
    again); otherwise only tokens of the `running` sessions arrived (refresh those rows)."""

    listing: bool
    running: tuple[str, ...]


class StoreChanges:
    """Watches the store at `path` from its own connection; `look()` says what changed since the last.

    The baseline is taken when made: make it before reading the listing it will keep current, so no
    commit falls between the two. Use it from one thread (SQLite connections are per thread).
    """

    def __init__(self, path: Path) -> None:
        self._conn = open_connection(Path(path), create=False)
        self._version = self._data_version()
        self._sessions = self._sessions_state()

    def _data_version(self) -> int:
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def _sessions_state(self) -> tuple:
        count, newest = self._conn.execute(LISTING_SQL).fetchone()
        running = tuple(row[0] for row in self._conn.execute(RUNNING_SQL, (RUNNING,)))
        return count, newest, running

    def session_count(self) -> int:
        """How many sessions the store holds now (a count over the status index: no row is read)."""
        return self._conn.execute("SELECT count(*) FROM sessions").fetchone()[0]

    @property
    def running(self) -> tuple[str, ...]:
        """The sessions `running` at the last look."""
        return self._sessions[2]

    def look(self) -> StoreChange | None:
        """None when nothing was committed since the last look; else what kind of change it was."""
        version = self._data_version()
        if version == self._version:
            return None
        self._version = version
        state = self._sessions_state()
        listing = state != self._sessions
        self._sessions = state
        return StoreChange(listing=listing, running=state[2])

    def close(self) -> None:
        self._conn.close()


__all__ = ["StoreChange", "StoreChanges"]
