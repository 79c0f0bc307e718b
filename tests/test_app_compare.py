"""Pilot tests of the compare screen: two stored sessions with known latencies, marked with space, `c`.

What is asserted is what is on the terminal (the compositor's text), at 120x36 and at 80x24.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from model.compare import side_figures
from pilot_waits import wait_workers
from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.store import SessionStore
from seeded_sessions import Spec, seed_sessions
from tui.app import make_app
from tui.screens.compare import HOW_TO_MARK, CompareScreen
from tui.screens.dialogs import ConfirmScreen
from tui.session_view import ARRIVAL_LABEL

SIZES = [(120, 36), (80, 24)]
BASE = Spec("aaaa0001-base", "the same prompt", seed=1, day=1, tokens=120)
SLOWER = Spec("bbbb0001-slow", "the same prompt", seed=1, day=2, tokens=120, scale=1.2)
"""B is A's twin with every latency times 1.2: B is exactly 20% slower at every percentile."""


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENLAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def screen_text(app) -> str:
    """The characters on the app's terminal now, one line per row."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), color_system=None, record=True,
                      legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def build(tmp_path, specs=(BASE, SLOWER)):
    store = seed_sessions(SessionStore(tmp_path / "data"), list(specs))
    return store, make_app(store=store, backend=ScriptedBackend(clock=ManualClock()))


async def ready(pilot) -> None:
    while pilot.app.main.controller.info is None:
        await pilot.pause(0.01)
    await pilot.pause()
    await wait_workers(pilot)


async def mark_all_and_compare(pilot, count: int = 2) -> None:
    """Space on each row of the sessions table (newest first), then c."""
    pilot.app.main.query_one("#sessions").focus()
    await pilot.pause()
    for row in range(count):
        await pilot.press("space")
        if row < count - 1:
            await pilot.press("down")
    await pilot.press("c")
    await pilot.pause()
    await settle_compare(pilot)


async def settle_compare(pilot) -> None:
    await wait_workers(pilot)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_compare_screen_shows_both_sessions_figures_and_the_verdict(tmp_path, size):
    # GIVEN two stored sessions, B exactly 20% slower than A
    store, app = build(tmp_path)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        # WHEN both are marked and c is pressed
        await mark_all_and_compare(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.loaded is not None
        # THEN the earliest is the baseline, and the verdict is on the terminal without scrolling
        assert screen.groups == [[BASE.session_id], [SLOWER.session_id]]
        shown = screen_text(app)
        assert "bbbb0001 is 20.0% slower at p50 than aaaa0001" in shown and "±" not in shown
        assert "bootstrap over tokens" in shown  # the interval's method, named
        # and every figure of both sessions is on the terminal: the store's own p50/p95/p99/tok/s
        for spec in (BASE, SLOWER):
            session = store.get_session(spec.session_id)
            for key in ("ttft_ms", "decode_p50_ms", "decode_p95_ms", "decode_p99_ms", "tokens_per_s"):
                assert f"{session[key]:.2f}" in shown, (spec.session_id, key)
            assert spec.session_id[:8] in shown
        for label in ("TTFT ms", "p50 ms", "p95 ms", "p99 ms", "tokens/s", "tokens"):
            assert label in shown
        assert "+20.0% [" in shown  # a change with its interval
        lines = shown.splitlines()
        assert max(len(line.rstrip()) for line in lines) <= size[0]
        # the chart of both sessions is reached by scrolling down, never sideways
        await pilot.press("end")
        await pilot.pause(0.2)
        shown = screen_text(app)
        assert "decode ms per token vs context" in shown and "context (tokens)" in shown
        assert "aaaa0001" in shown and "bbbb0001" in shown  # the legend
        body = app.screen.query_one("#compare-body")
        assert body.max_scroll_x == 0
        # escape goes back to the table, marks kept
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main
        assert app.main.query_one("#sessions").marked == {BASE.session_id, SLOWER.session_id}


async def test_compare_figures_are_the_cli_comparison(tmp_path):
    from tui.compare_view import load_comparison

    store, app = build(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await mark_all_and_compare(pilot)
        loaded = app.screen.loaded
    # the screen's comparison is the one `compare` computes for the same sessions (same seed, same draws)
    expected = load_comparison(store, [[BASE.session_id], [SLOWER.session_id]])
    (shown,), (wanted,) = loaded.comparisons, expected.comparisons
    assert shown.differences == wanted.differences and loaded.verdicts == expected.verdicts
    p50 = shown.differences["decode_p50_ms"]
    assert p50.relative == pytest.approx(0.2, abs=1e-12) and p50.ci_low < 0.2 < p50.ci_high
    assert side_figures(loaded.sides[0])["decode_p50_ms"] == pytest.approx(
        store.get_session(BASE.session_id)["decode_p50_ms"])


async def test_fewer_than_two_marked_says_how(tmp_path):
    _, app = build(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        app.main.query_one("#sessions").focus()
        await pilot.press("c")  # none marked
        await pilot.press("space", "c")  # one marked
        await pilot.pause()
        assert app.screen is app.main
        assert [n.message for n in app._notifications].count(HOW_TO_MARK) == 2


async def test_different_models_are_compared_only_when_confirmed(tmp_path):
    other_model = Spec("cccc0001-other", "the same prompt", seed=2, day=3, tokens=120, model="another-model")
    _, app = build(tmp_path, (BASE, other_model))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await mark_all_and_compare(pilot)
        # GIVEN two models: asked first, and "no" compares nothing
        assert isinstance(app.screen, ConfirmScreen)
        assert "different models (scripted, another-model)" in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is app.main
        assert any(n.message.startswith("not compared: sessions are of different models") for n in app._notifications)
        # "yes" (the CLI's --any) compares them
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")
        await settle_compare(pilot)
        assert isinstance(app.screen, CompareScreen) and app.screen.allow_models
        assert app.screen.loaded is not None and "cccc0001" in screen_text(app)


async def test_a_remote_session_is_labelled_with_its_timing(tmp_path):
    remote = Spec("dddd0001-remote", "the same prompt", seed=3, day=3, tokens=120, timing="arrival")
    _, app = build(tmp_path, (BASE, remote))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await mark_all_and_compare(pilot)
        shown = screen_text(app)
        assert f"dddd0001: {ARRIVAL_LABEL}" in shown
        assert f"aaaa0001: {ARRIVAL_LABEL}" not in shown


def f32_and_f16_runs(runs: int) -> list[Spec]:
    """`runs` runs in float32 (aaaa000R) and as many twins in float16 (bbbb000R), the float16 ones 10% faster."""
    specs = [Spec(f"aaaa000{r}-f32", "the same prompt", seed=10 + r, day=1 + r, tokens=80) for r in range(runs)]
    return specs + [Spec(f"bbbb000{r}-f16", "the same prompt", seed=10 + r, day=4 + r, tokens=80, scale=0.9,
                         dtype="float16") for r in range(runs)]


async def test_repeats_of_two_configurations_are_compared_as_two_sides_by_session_bootstrap(tmp_path):
    # GIVEN three runs in float32 and three in float16, the float16 ones 10% faster
    specs = f32_and_f16_runs(3)
    _, app = build(tmp_path, specs)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        # WHEN all six are marked and compared
        await mark_all_and_compare(pilot, count=6)
        screen = app.screen
        # THEN each configuration is one side, its runs resampled whole
        assert screen.groups == [[s.session_id for s in specs[:3]], [s.session_id for s in specs[3:]]]
        (comparison,) = screen.loaded.comparisons
        assert comparison.method == "bootstrap over repeats"
        assert comparison.differences["decode_p50_ms"].relative == pytest.approx(-0.1, abs=1e-12)
        shown = screen_text(app)
        assert "compare 6 sessions as 2 configurations · baseline aaaa0000+2" in shown
        assert "bbbb0000+2 is 10.0% faster at p50" in shown and "bootstrap over repeats" in shown


async def test_four_sessions_at_80x24_are_never_cut(tmp_path):
    # GIVEN four sessions: one table of all four would need ~130 columns
    specs = [BASE, SLOWER, Spec("cccc0001-same", "the same prompt", seed=2, day=3, tokens=120),
             Spec("dddd0001-fast", "the same prompt", seed=3, day=4, tokens=120, scale=0.8)]
    _, app = build(tmp_path, specs)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await mark_all_and_compare(pilot, count=4)
        # WHEN the screen is paged through from top to bottom
        pages = [screen_text(app)]
        body = app.screen.query_one("#compare-body")
        while body.scroll_y < body.max_scroll_y:
            await pilot.press("pagedown")
            await pilot.pause(0.2)
            pages.append(screen_text(app))
        shown = "\n".join(pages)
        # THEN each side is a table of its own against the baseline, every id and interval whole
        assert "…" not in shown
        for spec in specs[1:]:
            assert f"{spec.session_id[:8]} is " in shown or f"{spec.session_id[:8]} and aaaa0001" in shown
        for spec in specs[1:]:  # a header row of its own: baseline, this side, its change
            assert re.search(rf"aaaa0001 +{spec.session_id[:8]} +change", shown), spec.session_id
        assert len(app.screen.loaded.comparisons) == 3
        assert body.max_scroll_x == 0
