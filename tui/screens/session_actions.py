"""Export and delete, with their questions: a mixin of the main screen, kept apart for size."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from profiler.errors import ProfilerError
from tui.messages import SessionsChanged
from tui.screens.dialogs import ConfirmScreen, ExportPathScreen
from tui.widgets.sessions_table import SessionsTable


def sessions_phrase(count: int) -> str:
    """'1 session', '3 sessions'."""
    return f"{count} session" + ("" if count == 1 else "s")


def default_export_path(directory: Path | None = None) -> str:
    """A new file name in the current directory, so the suggested path never needs an overwrite."""
    directory = directory or Path.cwd()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = directory / f"tokenlat-{stamp}.csv"
    number = 1
    while candidate.exists():
        number += 1
        candidate = directory / f"tokenlat-{stamp}-{number}.csv"
    return str(candidate)


def delete_question(ids: list[str]) -> str:
    """One session has its tokens, several have their tokens."""
    if len(ids) == 1:
        return f"Delete session {ids[0][:8]} and all its tokens? This can't be undone."
    return f"Delete {len(ids)} sessions ({', '.join(i[:8] for i in ids)}) and all their tokens? This can't be undone."


class SessionActions:
    """Needs `self.app.store`, `self.running`, `self.live` and a SessionsTable on the screen."""

    def action_export(self) -> None:
        table = self.query_one(SessionsTable)
        ids = sorted(table.marked) or None  # marked sessions, else everything
        what = (f"{len(ids)} marked session{'' if len(ids) == 1 else 's'}" if ids
                else f"all {sessions_phrase(len(table.sessions))}")

        def chosen(path: str | None) -> None:
            if not path:
                return
            target = Path(path).expanduser()
            if target.exists() and not target.is_dir():
                self.app.push_screen(ConfirmScreen(f"{target} exists. Overwrite it?"),
                                     lambda yes: self.export_to(ids, target, force=True) if yes else None)
            else:
                self.export_to(ids, target, force=False)

        self.app.push_screen(ExportPathScreen(what, default_export_path()), chosen)

    def export_to(self, ids: list[str] | None, path: Path, *, force: bool) -> None:
        from profiler.csv_export import export_sessions

        try:
            result = export_sessions(self.app.store, ids, path, force=force)
        except ProfilerError as exc:
            self.notify(str(exc), title="export failed", severity="error", timeout=10)
            return
        except OSError as exc:  # disk full, permissions: one line, the app keeps running
            self.notify(f"can't write {path}: {exc.strerror or exc}", title="export failed", severity="error")
            return
        self.notify(f"wrote {result.rows} tokens of {sessions_phrase(result.sessions)} to {result.path}",
                    title="exported")

    def action_delete_selected(self) -> None:
        table = self.query_one(SessionsTable)
        ids = table.selected_ids()
        if not ids:
            return
        if self.live is not None and self.live.session_id in ids:
            self.notify("that session is running: stop it first (escape)", severity="warning")
            return

        def answered(yes: bool) -> None:
            if not yes:
                return
            try:
                count = self.app.store.delete_sessions(ids)
            except ProfilerError as exc:  # still running in another process, damaged store: say so, keep going
                self.notify(str(exc), title="nothing deleted", severity="error", timeout=10)
                return
            table.marked.clear()
            self.notify(f"deleted {sessions_phrase(count)}")
            self.post_message(SessionsChanged())

        self.app.push_screen(ConfirmScreen(delete_question(ids)), answered)
