"""Snapshot tests of the compare screen at 120x36 and 80x24 (as tests/test_app_snapshots.py does).

Deterministic: two stored sessions with fixed latencies (tests/seeded_sessions.py), a bootstrap of
fixed seed, and every worker finished before the picture is taken. Update with
`pytest --snapshot-update` only after looking at the report.
"""

from __future__ import annotations

import pytest

from test_app_compare import build, mark_all_and_compare, ready

SIZES = [(120, 36), (80, 24)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_screen(snap_compare, tmp_path, monkeypatch, size):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    _, app = build(tmp_path)

    async def before(pilot):
        await ready(pilot)
        await mark_all_and_compare(pilot)

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_screen_scrolled_to_the_chart(snap_compare, tmp_path, monkeypatch, size):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    _, app = build(tmp_path)

    async def before(pilot):
        await ready(pilot)
        await mark_all_and_compare(pilot)
        pilot.app.screen.query_one("#compare-body").scroll_end(animate=False)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=before)
