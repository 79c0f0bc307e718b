"""A sweep's report: the per-cell table, the scaling analysis in words, the configuration comparison,
and the files (--out: CSV and JSON tables; --plot: PNG and SVG figures). Files already there are never
replaced unless --force: `check_outputs` refuses before the sweep runs, and every file goes through
the one writer (`profiler.export_target.write_file`)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
from pathlib import Path

TABLE_FILES = ("cells.csv", "cells.json")
LINE_MAX_WIDTH = 32
"""The widest a cell's line name is drawn in the printed table (cut with … past it)."""
CONFIG_FILES = ("configs.csv", "configs.json")


def output_paths(args: argparse.Namespace) -> list[Path]:
    from model.sweep_plots import plot_files

    paths = []
    if args.out:
        paths += [Path(args.out) / name for name in TABLE_FILES + CONFIG_FILES]
    if args.plot:
        paths += plot_files(Path(args.plot))
    return paths


def check_outputs(args: argparse.Namespace) -> None:
    from profiler.errors import InputError

    for directory in filter(None, (args.out, args.plot)):
        if Path(directory).exists() and not Path(directory).is_dir():
            raise InputError(f"{directory} exists and is not a folder")
    from profiler.export_target import check_writable_target

    # the writer's rules (profiler/export_target.py), checked before the sweep runs: nothing there is
    # replaced without --force, and a link, device or FIFO not even with it
    for path in output_paths(args):
        if os.path.lexists(path):
            check_writable_target(path, force=args.force, hint="choose another folder")


def report(sweeps, sweep_id: str, args: argparse.Namespace, *, write_files: bool = True) -> None:
    """Print the results; write --out/--plot files only for a sweep that ran to its end (an interrupted
    one reports what it has, and its files wait for the resume, which would otherwise refuse them)."""
    from profiler.sweep.quality import compare_configs
    from profiler.sweep.results import scaling_analysis, sweep_results
    from tui.commands.common import json_safe, print_json

    spec, results = sweep_results(sweeps, sweep_id)
    analysis = scaling_analysis(results)
    comparisons = (compare_configs(sweeps, sweep_id, spec, results, price_per_hour=args.price_per_hour,
                                   seed=spec.seed) if spec.configs else [])
    axis = "batch" if spec.mode == "local" else "concurrency"
    written = _write_files(args, sweep_id, spec, results, analysis, comparisons, axis) if write_files else []
    if args.json:
        print_json(json_safe({"sweep_id": sweep_id, "cells": [r.to_row() for r in results], "scaling": analysis,
                              "configs": [c.to_row() for c in comparisons], "files": [str(p) for p in written]}))
        return
    _print_tables(sweep_id, spec, results, analysis, comparisons, axis)
    for path in written:
        print(f"wrote {path}")


def _write_files(args, sweep_id, spec, results, analysis, comparisons, axis: str) -> list[Path]:
    from model.sweep_plots import write_plots
    from profiler.errors import InputError
    from profiler.sweep.quality import COMPARISON_COLUMNS
    from profiler.sweep.results import TABLE_COLUMNS
    from tui.commands.common import json_safe

    written: list[Path] = []
    try:
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            rows = [r.to_row() for r in results]
            written.append(_create(out / "cells.csv", _csv(TABLE_COLUMNS, rows), args.force))
            document = {"sweep_id": sweep_id, "spec": spec.to_json(), "cells": rows, "scaling": analysis}
            written.append(_create(out / "cells.json", json.dumps(json_safe(document), indent=2), args.force))
            if comparisons:
                config_rows = [c.to_row() for c in comparisons]
                written.append(_create(out / "configs.csv", _csv(COMPARISON_COLUMNS, config_rows), args.force))
                written.append(_create(out / "configs.json", json.dumps(json_safe(config_rows), indent=2),
                                       args.force))
        if args.plot:
            title = f"sweep {sweep_id[:8]} · {spec.backend.get('model') or spec.backend.get('server') or 'embedded'}"
            written += write_plots([r.to_row() for r in results], Path(args.plot), title=title, axis=axis,
                                   force=args.force)
    except FileExistsError as exc:
        raise InputError(f"{exc.filename} already exists; not replacing it (choose another folder, or --force)") \
            from None
    except OSError as exc:
        raise InputError(f"can't write {exc.filename or 'output'}: {exc.strerror or exc}") from None
    return written


def _create(path: Path, text: str, force: bool) -> Path:
    from profiler.export_target import write_file  # the one writer: temp file beside, then renamed

    return write_file(path, text, force=force, hint="choose another folder")


def _csv(columns, rows) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _print_tables(sweep_id, spec, results, analysis, comparisons, axis: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from tui.session_table import output_width

    # the sessions table's width rule ($COLUMNS, else the terminal's, else a bounded width for a pipe)
    console = Console(width=output_width())
    table = Table(title=f"sweep {sweep_id[:8]}: per cell (per-token ms; tokens/s aggregate)", title_justify="left")
    for title in ("line", axis, "status", "p50", "p95", "p99", "TTFT p50", "tok/s", "peak MB", "floor ms",
                  "bound", "of floor"):
        # the line and status cells don't wrap: a long line name is cut with … (its full text is in --out's
        # cells.csv), a reason is a footnote; a figure's title may take two lines where the width is short
        text = title in ("line", "status")
        table.add_column(title, justify="left" if title in ("line", "status", "bound") else "right",
                         no_wrap=text, overflow="ellipsis" if text else "fold",
                         max_width=LINE_MAX_WIDTH if title == "line" else None)
    notes = cell_notes(results)
    for r in results:
        status = r.status if not r.reason else f"{r.status} [{notes.index(r.reason) + 1}]"
        table.add_row(_text(r.line), str(r.batch), _text(status), _f(r.p50_ms), _f(r.p95_ms), _f(r.p99_ms),
                      _f(r.ttft_p50_ms), _f(r.tokens_per_s, ".1f"), _f(r.peak_memory_mb, ".0f"), _f(r.floor_ms, ".3f"),
                      _text(r.bound or "–"), _f(r.achieved_fraction, ".1%"))
    console.print(table)
    # a skip or failure reason is a sentence: in a cell it wrapped one word per line, so it is a
    # footnote under the table, keyed by the number in the cell's status (cells with one reason share it)
    for number, reason in enumerate(notes, 1):
        console.print(_text(f"[{number}] {reason}"))
    if analysis["words"]:
        console.print("[bold]scaling[/]", highlight=False)
        for line in analysis["words"]:
            console.print(_text(f"  {line}"), soft_wrap=True)
    if comparisons:
        _print_comparisons(console, comparisons, notes)


def cell_notes(results) -> list[str]:
    """The distinct skip/failure reasons of `results`, in table order: footnote [n] is notes[n - 1]."""
    notes: list[str] = []
    for r in results:
        if r.reason and r.reason not in notes:
            notes.append(r.reason)
    return notes


def _print_comparisons(console, comparisons, notes: list[str]) -> None:
    """The configurations table; a skipped or failed configuration's reason is a footnote, numbered on from
    the cells table's (a reason already there keeps its number)."""
    from rich.table import Table

    # two tables, speed then verdict and quality: sixteen columns in one didn't fit 120 columns
    speed = Table(title="configurations vs baseline: speed (per-token ms; tokens/s aggregate)", title_justify="left")
    verdicts = Table(title="configurations vs baseline: verdict and quality (greedy outputs compared on the same "
                     "prompts)", title_justify="left")
    for table, titles in ((speed, ("config", "batch", "tokens", "tok/s", "p50", "p95", "p99", "TTFT", "peak MB",
                                   "compile s")),
                          (verdicts, ("config", "batch", "speed-up (95% CI)", "verdict", "exact", "1st div", "ROUGE-L",
                                      "$/1M tok"))):
        for title in titles:
            text = title in ("config", "verdict", "speed-up (95% CI)")
            table.add_column(title, justify="left" if title in ("config", "verdict") else "right", no_wrap=text,
                             overflow="ellipsis" if text else "fold",
                             max_width=LINE_MAX_WIDTH if title == "config" else None)
    new_notes: list[str] = []
    for c in comparisons:
        speedup = "–" if c.speedup is None else f"x{c.speedup:.2f}"
        if c.speedup_ci_low is not None:
            speedup += f" ({c.speedup_ci_low:.2f}–{c.speedup_ci_high:.2f})"
        verdict = c.verdict if c.status == "done" else c.status
        if c.status != "done" and c.reason:
            if c.reason not in notes:
                notes.append(c.reason)
                new_notes.append(c.reason)
            verdict += f" [{notes.index(c.reason) + 1}]"
        speed.add_row(_text(c.config), str(c.batch), str(c.max_new_tokens), _f(c.tokens_per_s, ".1f"), _f(c.p50_ms),
                      _f(c.p95_ms), _f(c.p99_ms), _f(c.ttft_p50_ms), _f(c.peak_memory_mb, ".0f"),
                      _f(c.compile_ms / 1000 if c.compile_ms is not None else None, ".1f"))
        verdicts.add_row(_text(c.config), str(c.batch), speedup, _text(verdict), _f(c.exact_match_rate, ".0%"),
                         _f(c.mean_first_divergence, ".1f"), _f(c.rouge_l_f1, ".3f"), _f(c.cost_per_million_usd, ".2f"))
    console.print(speed)
    console.print(verdicts)
    for reason in new_notes:
        console.print(_text(f"[{notes.index(reason) + 1}] {reason}"))


def _text(value: str):
    """A cell of outside text (a config file's names, a server's or model's error): controls made visible,
    and a Text, so '[bold]' in it stays literal rather than being read as markup."""
    from rich.text import Text

    from profiler.printable import printable_line

    return Text(printable_line(str(value)))


def _f(value, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def print_sweep_list(store, *, as_json: bool) -> None:
    """The sweeps in the store, newest first: id, start, status, grid, cells per status."""
    from profiler.store.sweeps import SweepStore
    from tui.commands.common import print_json
    from profiler.printable import printable_line
    from profiler.sweep.grid import describe_grid

    sweeps = SweepStore(store.path)
    try:
        rows = sweeps.list()
    finally:
        sweeps.close()
    if as_json:
        print_json([{"id": r["id"], "started": r["started"], "ended": r["ended"], "status": r["status"],
                     "grid": describe_grid(r["spec"]), "cells": r["cells"]} for r in rows])
        return
    for r in rows:
        cells = ", ".join(f"{count} {status}" for status, count in sorted(r["cells"].items()))
        started = r["started"][:19].replace("T", " ")
        print(printable_line(f"{r['id']}  {started}  {r['status']:<11}  {describe_grid(r['spec'])}  ({cells})"))
