"""A compared side's label has one form whatever the side's size (tui/compare_view.side_label): the
first session's short id, then how many more. Pilot at 120×36 on seeded sessions in a real store."""

from __future__ import annotations

import pytest

from test_app_compare import build, f32_and_f16_runs, mark_all_and_compare, ready, screen_text
from tui.compare_view import side_label


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def test_one_form_for_every_size():
    ids = [f"{n:08x}-session" for n in range(4)]
    assert side_label(ids[:1]) == "00000000"
    assert side_label(ids[:2]) == "00000000+1"
    assert side_label(ids) == "00000000+3"


async def test_two_configurations_of_two_runs_each_are_labelled_first_id_plus_one(tmp_path):
    specs = f32_and_f16_runs(2)
    _, app = build(tmp_path, specs)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await mark_all_and_compare(pilot, count=4)
        assert len(app.screen.groups) == 2
        shown = screen_text(app)
        assert "baseline aaaa0000+1" in shown and "bbbb0000+1 is " in shown, shown
        assert "aaaa0000+aaaa0001" not in shown and "bbbb0000+bbbb0001" not in shown
