"""The printed sweep report fits the width it is given: a skipped cell's reason is a footnote under
the table (not a cell that wraps one word per line), and piped output is bounded. A real store and
the real report function; no decoding."""

from __future__ import annotations

import argparse

from profiler.store import SessionStore
from profiler.store.sweeps import SKIPPED, SweepStore
from profiler.sweep.grid import SweepSpec
from profiler.sweep.runner import create_sweep
from tui.commands.sweep_report import report
from tui.session_table import PIPED_WIDTH

REASON = ("int8 needs bitsandbytes on a CUDA GPU; this machine runs on the CPU, so the cell is skipped "
          "and the sweep goes on with the rest of its grid")


def _skipped_sweep() -> tuple[SweepStore, str]:
    store = SessionStore()
    spec = SweepSpec(mode="local", batches=[1, 8, 32], lengths=[16, 64], precisions=["fp32", "int8"], repeat=1,
                     seed=7)
    sweep_id = create_sweep(store, spec)
    sweeps = SweepStore(store.path)
    for row in sweeps.cells(sweep_id):
        sweeps.start_cell(sweep_id, row.cell, row.repeat)
        sweeps.end_cell(sweep_id, row.cell, row.repeat, SKIPPED, reason=REASON)
    return sweeps, sweep_id


def _args() -> argparse.Namespace:
    return argparse.Namespace(json=False, out=None, plot=None, force=False, price_per_hour=None)


def _widths(text: str) -> list[int]:
    from rich.cells import cell_len

    return [cell_len(line) for line in text.splitlines()]


def test_skip_reasons_are_footnotes_and_the_table_fits_120_columns(private_data_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    sweeps, sweep_id = _skipped_sweep()
    try:
        report(sweeps, sweep_id, _args(), write_files=False)
    finally:
        sweeps.close()
    out = capsys.readouterr().out
    assert max(_widths(out)) <= 120
    table_lines = [line for line in out.splitlines() if "skipped" in line and "│" in line]
    # one line per cell (12 cells), each naming its footnote rather than wrapping the reason
    assert len(table_lines) == 12 and all("skipped [1]" in line for line in table_lines)
    assert out.count("[1] int8 needs bitsandbytes") == 1
    assert " ".join(out.split()).count(REASON) == 1  # the whole reason, once


def test_piped_report_is_bounded(private_data_dir, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    sweeps, sweep_id = _skipped_sweep()
    try:
        report(sweeps, sweep_id, _args(), write_files=False)
    finally:
        sweeps.close()
    out = capsys.readouterr().out
    assert max(_widths(out)) <= PIPED_WIDTH
    table = [line for line in out.splitlines() if "skipped" in line and "│" in line]
    assert len(table) == 12 and max(_widths("\n".join(table))) <= 120


def test_configuration_reasons_are_footnotes_too(private_data_dir, capsys, monkeypatch):
    from profiler.sweep.configs import PRESETS

    monkeypatch.setenv("COLUMNS", "120")
    store = SessionStore()
    spec = SweepSpec(mode="local", batches=[1], lengths=[16], precisions=[], configs=["baseline", "int8"],
                     config_definitions={name: PRESETS[name] for name in ("baseline", "int8")}, repeat=1, seed=7)
    sweep_id = create_sweep(store, spec)
    sweeps = SweepStore(store.path)
    try:
        for row in sweeps.cells(sweep_id):
            sweeps.end_cell(sweep_id, row.cell, row.repeat, SKIPPED, reason=REASON)
        report(sweeps, sweep_id, _args(), write_files=False)
    finally:
        sweeps.close()
    out = capsys.readouterr().out
    assert " ".join(out.split()).count(REASON) == 1  # one footnote, shared by both tables
    # two cells and two configurations, each one line naming the footnote
    rows = [line for line in out.splitlines() if "skipped" in line and "│" in line]
    assert len(rows) == 4 and all("skipped [1]" in line for line in rows)
    assert max(_widths(out)) <= 120
