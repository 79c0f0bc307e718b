"""The whole run and its spikes explained (issue 10 items 2-3): the session detail screen, the
max-per-column chart, the histogram's percentile labels, the spike list, and the live panel's
run progress.

Sessions with a known spike are imported into a real SQLite store (token 77 took 52 ms while a
garbage collection of 43.5 ms ran inside it); the live-panel test runs the real embedded model.
"""

from __future__ import annotations

import re

import pytest
from textual.geometry import Region
from textual.widgets import Input, TextArea
from textual.worker import WorkerCancelled

from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.records import SessionMeta, TokenRecord
from profiler.store import SessionStore
from tui.app import make_app
from tui.run_progress import FLAT, MIN_FIT_TOKENS, LatencyLine, RunProgress
from tui.screens.session_detail import SessionDetailScreen
from tui.session_view import timing_label
from tui.widgets.latency_histogram import LatencyHistogram
from tui.widgets.run_chart import RunChart, max_per_column
from tui.widgets.sessions_table import SessionsTable
from tui.widgets.spike_list import SpikeList

SIZES = [(120, 36), (80, 24)]
SPIKY_ID = "5b1ce077-spiky-session"
SPIKE_K = 77


def spiky_tokens(count: int = 200) -> list[TokenRecord]:
    """Decode steps of 8.0-8.6 ms rising with context, one 52 ms token with a recorded 43.5 ms GC."""
    tokens = []
    for k in range(1, count + 1):
        latency = 30.0 if k == 1 else 8.0 + (k % 7) * 0.1
        gc_collections, gc_ms = 0, 0.0
        if k == SPIKE_K:
            latency, gc_collections, gc_ms = 52.0, 1, 43.5
        tokens.append(TokenRecord(k=k, context_size=40 + k - 1, latency_ms=latency,
                                  phase="prefill" if k == 1 else "decode", token_id=97, token_text="ab "[k % 3],
                                  wall_time=1_700_000_000.0 + k * 0.01, forward_ms=latency - 0.2, sample_ms=0.2,
                                  gc_collections=gc_collections, gc_ms=gc_ms))
    return tokens


def spiky_store(data_dir, timing: str = "device") -> SessionStore:
    store = SessionStore(data_dir)
    meta = SessionMeta(prompt="Explain the KV cache.", input_tokens=40, model="scripted", model_label="scripted delays",
                       dtype="float32", device="cpu", backend="scripted")
    started = "2026-01-05T12:00:00.000000+00:00"
    store.import_sessions([(meta, {"id": SPIKY_ID, "started": started, "ended": started, "timing": timing},
                            spiky_tokens())])
    return store


def build_app(tmp_path, timing: str = "device"):
    return make_app(store=spiky_store(tmp_path / "data", timing), backend=ScriptedBackend(clock=ManualClock()))


def drawn(widget) -> str:
    """What the widget puts on screen, line by line (its CSS size, its own rendering)."""
    width, height = widget.size
    return "\n".join(strip.text.rstrip() for strip in widget.render_lines(Region(0, 0, width, height)))


def table_rows(text: str) -> list[list[str]]:
    """A drawn rich table's body rows as cells; a cell wrapped over several lines is joined back."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[0]:
            rows.append(cells)
        else:  # a continuation line: only the wrapped cells have text
            rows[-1] = [" ".join(part for part in (old, new) if part) for old, new in zip(rows[-1], cells)]
    return rows


async def settle_workers(pilot) -> None:
    """Let the main screen's background fits end (a newer fit cancels an older one: that's not an error)."""
    for _ in range(3):
        await pilot.pause()
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:
            continue


async def open_detail(pilot) -> SessionDetailScreen:
    app = pilot.app
    while app.main.controller.info is None:  # the in-process engine announces the model from its thread
        await pilot.pause(0.01)
    await settle_workers(pilot)
    for text_area in app.query(TextArea):
        text_area.cursor_blink = False
    for field in app.query(Input):
        field.cursor_blink = False
    table = app.main.query_one(SessionsTable)
    table.focus()
    table.highlight(SPIKY_ID)
    await pilot.press("v")
    await pilot.pause()
    assert isinstance(app.screen, SessionDetailScreen)
    return app.screen


def test_max_per_column_keeps_a_single_spike_among_5000_tokens():
    # GIVEN 5000 decode tokens of 8 ms with one of 52 ms
    xs = list(range(2, 5002))
    ys = [8.0] * 5000
    ys[3141] = 52.0
    # WHEN they are summarised into 70 columns
    columns = max_per_column(xs, ys, 70)
    # THEN one column holds the spike at its full value, every other column the steady 8 ms
    assert len(columns) == 70
    assert columns.count(52.0) == 1 and columns.count(8.0) == 69
    assert columns.index(52.0) == int((xs[3141] - xs[0]) * 70 / (xs[-1] - xs[0]))
    # a mean per column (what a sparkline's default does) would have shown ~8.6 ms there
    assert max(columns) == 52.0


def test_run_progress_text_counts_generations_and_tokens():
    progress = RunProgress(warmups=1, measured=3, max_new_tokens=100, started=0.0)
    assert progress.text([], 0, now=0.5) == "starting run… · elapsed 0.5 s · ETA —"
    progress.session_started(warmup=True)
    assert progress.text([(50, False)], 50, now=1.0).startswith("warm-up 1/1 · tokens 50/100 · elapsed 1.0 s")
    progress.session_started(warmup=False)
    progress.session_started(warmup=False)
    # 250 tokens in 5 s: 50 tokens/s; left: 50 of the running repeat + 100 of the one not started: 3 s
    assert progress.text([(100, True), (100, True), (50, False)], 50, now=5.0) == \
        "repeat 2/3 · tokens 50/100 · elapsed 5.0 s · ETA 3.0 s"
    # a generation that ended early at EOS is complete: nothing of it is left to wait for
    assert progress.eta_s([(100, True), (20, True), (50, False)], now=5.0) == pytest.approx(150 * 5.0 / 170)


def test_eta_weighs_the_tokens_to_come_by_the_line_fitted_on_the_run():
    # GIVEN decode latency growing with context: 1 ms + 0.01 ms per context token, prompt of 100
    points = [(100 + k - 1, 1.0 + 0.01 * (100 + k - 1)) for k in range(2, 51)]
    line = LatencyLine.fit(points)
    assert line.intercept == pytest.approx(1.0) and line.slope == pytest.approx(0.01)
    progress = RunProgress(warmups=0, measured=1, max_new_tokens=100, started=0.0)
    progress.session_started(warmup=False)
    # WHEN half the tokens took 5 s, THEN the second half (at larger contexts) takes longer than the
    # first: elapsed × (line summed over contexts 150..199) / (line summed over 100..149)
    second_half = sum(1.0 + 0.01 * c for c in range(150, 200))
    first_half = sum(1.0 + 0.01 * c for c in range(100, 150))
    eta = progress.eta_s([(50, False)], now=5.0, input_tokens=100, line=line)
    assert eta == pytest.approx(5.0 * second_half / first_half)
    assert eta > progress.eta_s([(50, False)], now=5.0, input_tokens=100)  # the plain rate promises too early
    # too few tokens to fit a line: every token alike (the plain rate)
    assert LatencyLine.fit(points[:MIN_FIT_TOKENS - 1]) == FLAT


def test_run_progress_of_concurrent_server_streams():
    # two streams at once: both count towards the rate and what is left
    progress = RunProgress(warmups=0, measured=2, max_new_tokens=40, started=0.0, unit="request")
    progress.session_started(warmup=False)
    progress.session_started(warmup=False)
    assert progress.text([(10, False), (30, False)], 10, now=2.0) == \
        "request 2/2 · tokens 10/40 · elapsed 2.0 s · ETA 2.0 s"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_detail_screen_scale_percentiles_and_spike_cause(tmp_path, size):
    app = build_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        # GIVEN a stored session whose token 77 took 52 ms while a GC ran; WHEN it is opened with `v`
        screen = await open_detail(pilot)
        session = app.store.get_session(SPIKY_ID)
        # THEN the chart has a ms scale topped just above the spike, 0 at the bottom, k from 2 to 200
        chart = drawn(screen.query_one(RunChart)).splitlines()
        assert re.match(r"^60 ms ┤", chart[0]), chart[0]
        assert any(re.match(r"^\s+0 ┤", line) for line in chart)
        assert re.match(r"^\s+2\s+token k\s+200$", chart[-1]), chart[-1]
        # the spike's column is a full-height bar: the top row has a bar cell, the chart is not flattened
        assert any(cell in "▁▂▃▄▅▆▇█" for cell in chart[1])
        # the prefill is stated apart, not charted (its 30 ms would otherwise be the second-tallest bar)
        figures = drawn(screen.query_one("#detail-figures"))
        assert "TTFT 30.00 ms" in figures
        # the histogram labels p50/p95/p99 with the session's own stored figures
        histogram = drawn(screen.query_one(LatencyHistogram))
        for q in (50, 95, 99):
            assert f"p{q} {session[f'decode_p{q}_ms']:.2f} ms" in histogram
        # the spike list's first row is token 77 with its cause
        spikes = drawn(screen.query_one(SpikeList))
        rows = table_rows(spikes)
        assert rows[0][:4] == [str(SPIKE_K), str(40 + SPIKE_K - 1), "52.00", f"{52.0 / 8.3:.2f}"], rows[0]
        assert "garbage collection: 1 collection, 43.50 ms" in rows[0][4]
        # nothing is wider than the screen
        assert max(len(line) for line in spikes.splitlines()) <= size[0]
        # WHEN `c` is pressed THEN the x axis is the context size (40 input tokens: 41 .. 239)
        await pilot.press("c")
        await pilot.pause()
        chart = drawn(screen.query_one(RunChart)).splitlines()
        assert re.match(r"^\s+41\s+context \(tokens\)\s+239$", chart[-1]), chart[-1]
        # escape returns to the main screen
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main


async def test_a_remote_session_says_its_latencies_are_arrival_gaps(tmp_path):
    app = build_app(tmp_path, timing="arrival")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_detail(pilot)
        figures = " ".join(drawn(screen.query_one("#detail-figures")).split())
        assert f"{timing_label({'timing': 'arrival'})}: per-token values are derived from the gaps" in figures
    # and a device-timed one doesn't
    app = build_app(tmp_path / "device")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_detail(pilot)
        assert timing_label({"timing": "arrival"}) not in drawn(screen.query_one("#detail-figures"))


async def test_enter_on_a_session_opens_the_detail(tmp_path):
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        while app.main.controller.info is None:
            await pilot.pause(0.01)
        table = app.main.query_one(SessionsTable)
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SessionDetailScreen) and app.screen.session_id == SPIKY_ID


async def test_a_session_deleted_by_another_process_is_a_notification_not_a_crash(tmp_path):
    """The table lists a session another process deletes before it is highlighted or opened (the store
    stress test caught the app exiting on it): the app says so and goes on."""
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        while app.main.controller.info is None:
            await pilot.pause(0.01)
        # the table follows the store twice a second: held still, the row stays listed after the delete,
        # as it does between two of its reads
        app.main.store_timer.pause()
        assert SessionStore(tmp_path / "data").delete_sessions([SPIKY_ID]) == 1
        table = app.main.query_one(SessionsTable)
        assert table.highlighted_id == SPIKY_ID  # the row is still listed
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is app.main and app.is_running
        assert any(n.title == "session gone" and SPIKY_ID in n.message for n in app._notifications)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_detail_screen_snapshot(snap_compare, tmp_path, size):
    async def before(pilot):
        await open_detail(pilot)

    assert snap_compare(build_app(tmp_path), terminal_size=size, run_before=before)


@pytest.mark.slow
async def test_live_panel_shows_generation_and_tokens_during_a_real_run(tmp_path, embedded_backend):
    store = SessionStore(tmp_path / "data")
    app = make_app(store=store, backend=embedded_backend)
    async with app.run_test(size=(120, 36)) as pilot:
        while app.main.controller.info is None:
            await pilot.pause(0.01)
        screen = app.main
        screen.query_one("#prompt", TextArea).text = "Why is decoding memory-bound?"
        screen.query_one("#max-new-tokens", Input).value = "24"
        screen.query_one("#warmup", Input).value = "1"
        screen.query_one("#repeat", Input).value = "2"
        progress_box = screen.query_one("#run-progress")
        title_box = screen.query_one("#latency-title")
        # WHEN the run is asked for THEN the panel says so in the same step, before the engine answers
        screen.action_run_prompt()
        # (the engine's first event may already be drawn: then it names the first generation)
        assert str(title_box.content).startswith(("starting run…", "warm-up 1/1"))
        assert str(progress_box.content).startswith(("starting run…", "warm-up 1/1"))
        seen = []
        while screen.running:
            await pilot.pause(0.03)
            text = str(progress_box.content)
            if not seen or seen[-1] != text:
                seen.append(text)
        # THEN the progress line named each generation with tokens n/24, elapsed and an ETA
        assert any(re.match(r"warm-up 1/1 · tokens \d+/24 · elapsed [\d.]+ s · ETA", t) for t in seen), seen
        assert any(re.match(r"repeat 2/2 · tokens \d+/24 · elapsed [\d.]+ s · ETA [\d.]+ s", t) for t in seen), seen
        generations = [t.split(" · ")[0] for t in seen if t]  # "": the run ended, the line is hidden
        order = [g for i, g in enumerate(generations) if i == 0 or generations[i - 1] != g]
        assert order == ["starting run…", "warm-up 1/1", "repeat 1/2", "repeat 2/2"][-len(order):], order
        # the chart has a ms scale: its top row starts with a ms label
        await pilot.pause()
        assert re.match(r"^\s*[\d.]+ ms ┤", drawn(screen.query_one("#decode-chart")).splitlines()[0])
        assert re.search(r"p50 [\d.]+ ms · p95 [\d.]+ ms · p99 [\d.]+ ms", str(screen.query_one("#figures").content))


def test_compact_chart_keeps_its_scale_and_gives_the_label_row_to_bars():
    from tui.widgets.run_chart import chart_text

    lines = chart_text(list(range(2, 102)), [8.0] * 99 + [30.0], 60, 4, x_name="token k").plain.splitlines()
    # GIVEN 4 rows THEN 4 bar rows: the top one labelled in ms, the bottom one 0, no x labels
    assert len(lines) == 4
    assert re.match(r"^30 ms ┤", lines[0]) and re.match(r"^\s+0 ┤", lines[3])
    assert "token k" not in "\n".join(lines)


async def test_a_session_with_only_its_first_token_opens_without_charts(tmp_path):
    store = SessionStore(tmp_path / "data")
    meta = SessionMeta(prompt="p", input_tokens=3, model="scripted", device="cpu", backend="scripted")
    started = "2026-01-06T12:00:00.000000+00:00"
    store.import_sessions([(meta, {"id": SPIKY_ID, "started": started, "ended": started}, spiky_tokens(1))])
    app = make_app(store=store, backend=ScriptedBackend(clock=ManualClock()))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_detail(pilot)
        assert "TTFT 30.00 ms" in drawn(screen.query_one("#detail-figures"))
        assert "no decode tokens" in drawn(screen.query_one(RunChart))
        assert "no decode tokens" in drawn(screen.query_one(LatencyHistogram))
        assert "no decode tokens" in drawn(screen.query_one(SpikeList))


async def test_live_panel_names_a_remote_sessions_timing(tmp_path):
    app = build_app(tmp_path, timing="arrival")
    async with app.run_test(size=(120, 36)) as pilot:
        while app.main.controller.info is None:
            await pilot.pause(0.01)
        await settle_workers(pilot)
        # GIVEN an arrival-timed session highlighted in the table THEN the live panel's title says so
        app.main.query_one(SessionsTable).highlight(SPIKY_ID)
        await pilot.pause()
        assert str(app.main.query_one("#latency-title").content).endswith(f"· {timing_label({'timing': 'arrival'})}")
