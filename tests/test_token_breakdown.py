"""The selected token's breakdown (issue 20): the profiled pass's step at the same k as a timed token,
on the detail screen (highlight a spike) and in `show ID --breakdown --token K`.

Real parts: the app under Pilot with its in-process engine on the real embedded model (random
weights), the CLI's entry point in-process and in a real subprocess, torch.profiler, real SQLite stores.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import run_cli
from profiler.breakdown import CLASSES
from profiler.breakdown.step import last_k, pass_step, step_classes
from profiler.store import SessionStore
from profiler.store.breakdowns import passes_for_sessions
from test_app_breakdown import SIZE, open_detail, run_prompt
from tui.app import make_app
from tui.breakdown_view import token_breakdown
from tui.cli import main
from tui.widgets.spike_list import SpikeList

LABEL = re.compile(r"profiled pass, step k=(\d+) \(the timed token took ([\d.]+) ms; profiled step ([\d.]+) ms\)")


def box_text(box) -> str:
    return "\n".join(strip.text for strip in box.render_lines(box.region.reset_offset))


def class_cells(text: str) -> dict[str, float]:
    """class -> ms from the drawn table's rows."""
    cells = {}
    for line in text.splitlines():
        parts = [part.strip() for part in line.strip().strip("│").split("│")]
        if len(parts) == 3 and parts[0] in (*CLASSES, "all classes"):
            cells[parts[0]] = float(parts[1])
    return cells


@pytest.mark.slow  # a run and a profiled pass on the embedded model
async def test_highlighting_a_spike_shows_the_profiled_step_at_its_k(tmp_path, embedded_backend):
    store = SessionStore(tmp_path / "data")
    async with make_app(store=store, backend=embedded_backend).run_test(size=SIZE) as pilot:
        app = pilot.app
        await run_prompt(app, pilot, breakdown=True)
        session_id = next(s["id"] for s in store.list_sessions() if not s["warmup"])
        (profiled,) = passes_for_sessions(store, [session_id])
        detail = await open_detail(app, pilot, session_id)
        spikes = detail.query_one(SpikeList)
        box = detail.query_one("#detail-token")
        # GIVEN the detail screen of a profiled session: nothing highlighted yet, the box says how to pick one
        assert box.display and spikes.selected is None and "↑/↓" in box_text(box)
        assert len(spikes.spikes) >= 2
        # WHEN the spike list is focused and ↓ pressed, twice
        spikes.focus()
        for index in (0, 1):
            await pilot.press("down")
            await pilot.pause()
            spike = spikes.spikes[index]
            # THEN the box shows the pass's step at that spike's k, with the timed token's latency beside it
            text = box_text(box)
            (match,) = LABEL.findall(" ".join(text.split()))
            assert int(match[0]) == spike.k and float(match[1]) == pytest.approx(spike.latency_ms, abs=5e-4)
            step = pass_step(profiled["result"], spike.k)
            assert float(match[2]) == pytest.approx(step["profiled_ns"] / 1e6, abs=5e-4)
            # and every class with its ms; they add up to the profiled step within 10 %
            cells = class_cells(text)
            assert set(cells) == {*CLASSES, "all classes"}
            assert abs(cells["all classes"] - float(match[2])) <= 0.10 * float(match[2])
        assert spikes.spikes[0].k != spikes.spikes[1].k  # the box moved to another token


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """One `collect --breakdown` run (8 tokens, one measured session) through the CLI's entry point."""
    data_dir = tmp_path_factory.mktemp("token") / "data"
    assert main(["collect", "which class took step k?", "--max-new-tokens", "8", "--ignore-eos", "--warmup", "0",
                 "--repeat", "1", "--breakdown", "--json", "--data-dir", str(data_dir)]) == 0
    store = SessionStore(data_dir)
    (session,) = store.list_sessions()
    (profiled,) = passes_for_sessions(store, [session["id"]])
    return data_dir, store, session["id"], profiled


@pytest.mark.slow  # a run and a profiled pass on the embedded model
def test_show_token_prints_one_step_and_refuses_a_k_past_the_pass_in_one_line(collected, capsys):
    data_dir, store, session_id, profiled = collected
    capsys.readouterr()
    steps = last_k(profiled["result"])
    assert steps == 8
    # GIVEN step 4 WHEN shown as JSON THEN its classes add up to its profiled time within 10 %
    assert main(["show", session_id, "--breakdown", "--token", "4", "--json", "--data-dir", str(data_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["k"] == 4 and [row["name"] for row in report["classes"]] == list(CLASSES)
    total = sum(row["ms"] for row in report["classes"])
    assert abs(total - report["profiled_ms"]) <= 0.10 * report["profiled_ms"]
    timed = next(t["latency_ms"] for t in store.session_tokens(session_id) if t["k"] == 4)
    assert report["timed_ms"] == timed
    # and as a table, the label names k and both times
    assert main(["show", session_id[:8], "--breakdown", "--token", "4", "--data-dir", str(data_dir)]) == 0
    (match,) = LABEL.findall(" ".join(capsys.readouterr().out.split()))  # the label wraps at the console's width
    assert int(match[0]) == 4 and float(match[1]) == pytest.approx(timed, abs=5e-4)
    # WHEN k is past the pass, zero, or given without --breakdown THEN one line and exit 2, in a real process
    for args, words in ((["--breakdown", "--token", str(steps + 1)], f"between 1 and {steps}"),
                        (["--breakdown", "--token", "0"], "between 1 and"),
                        (["--token", "3"], "needs --breakdown")):
        done = run_cli("show", session_id, *args, data_dir=data_dir)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2 and len(lines) == 1 and words in lines[0], done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.slow  # a run and a profiled pass on the embedded model
def test_a_k_the_pass_lacks_or_a_session_not_in_the_pass_is_one_line_and_old_results_read_by_position(collected):
    from rich.console import Console

    _, store, session_id, profiled = collected

    def drawn(renderable) -> str:
        console = Console(width=200, record=True)
        console.print(renderable)
        return console.export_text()

    beyond = last_k(profiled["result"]) + 1
    lines = drawn(token_breakdown(profiled, session_id, beyond, 1.0)).strip().splitlines()
    assert len(lines) == 1 and f"no step k={beyond}" in lines[0]
    lines = drawn(token_breakdown(profiled, "another-session", 3, 1.0)).strip().splitlines()
    assert len(lines) == 1 and "not run beside this session" in lines[0]
    # a result stored before steps carried k: step k is the k-th
    old = {**profiled["result"], "steps": [{key: v for key, v in s.items() if key != "k"}
                                          for s in profiled["result"]["steps"]]}
    for k in (1, 5, 8):
        assert pass_step(old, k)["step_ns"] == pass_step(profiled["result"], k)["step_ns"]
    assert pass_step(old, 9) is None and last_k(old) == 8
    assert [name for name, _, _ in step_classes(pass_step(old, 5))] == list(CLASSES)
