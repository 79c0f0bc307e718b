"""The app's `t` on a session's detail screen: the session's run as a trace file, named, never replacing one.

The file goes to the current directory as `tokenlat-trace-<id8>.json` (then `-2`, `-3`, ... when that
name is taken: nothing that exists is ever replaced). A session of a run (a remote run's streams, a
batch's sequences) brings the whole run; a profiled pass run beside them comes too.
"""

from __future__ import annotations

from pathlib import Path

MAX_NAMES = 100


def write_session_trace(store, session_id: str, directory: Path | None = None) -> tuple[Path, int]:
    """Write the trace; (its path, how many sessions it holds)."""
    from profiler.errors import InputError
    from profiler.store.breakdowns import passes_for_sessions
    from profiler.trace import read_trace_sessions, write_trace
    from tui.commands.export_trace import spike_marks
    from tui.session_view import run_session_ids

    ids = run_session_ids(store, store.get_session(session_id))
    items = read_trace_sessions(store, ids, spikes=spike_marks)
    passes = passes_for_sessions(store, ids)
    folder = directory if directory is not None else Path.cwd()
    for number in range(1, MAX_NAMES + 1):
        path = folder / f"tokenlat-trace-{session_id[:8]}{'' if number == 1 else f'-{number}'}.json"
        if path.exists() or path.is_symlink():
            continue
        try:
            write_trace(items, str(path), force=False, passes=passes)
        except InputError as exc:
            if "already exists" in str(exc):
                continue  # taken between the look and the write: the next name
            raise
        return path, len(items)
    raise InputError(f"{MAX_NAMES} trace files of session {session_id[:8]} are already in {folder}; "
                     "move some away or use tokenlat-tui export --trace -o FILE")
