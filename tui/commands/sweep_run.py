"""Running `tokenlat-tui sweep`: flags to a spec (every check before any model loads), the progress
bar, signals, then the report (sweep_report.py)."""

from __future__ import annotations

import argparse
import dataclasses
import math
import threading
from pathlib import Path

from tui.commands.sweep import GRID_FLAGS
from tui.interrupts import InterruptHandlers

DEFAULT_LENGTH = 32
MIN_PROMPTS = 8
CELLS_FAILED = 1
"""The exit status of a sweep that finished with some cells failed: a script must not take it for a clean one."""


def run_sweep(args: argparse.Namespace) -> int:
    from profiler.errors import InputError
    from profiler.flag_checks import check_finite
    from profiler.store.sweeps import SweepStore
    from profiler.sweep.runner import create_sweep
    from tui.commands.common import open_store
    from tui.commands.sweep_report import check_outputs, report

    if args.list:
        from tui.commands.sweep_report import print_sweep_list

        print_sweep_list(open_store(args), as_json=args.json)
        return 0
    if args.price_per_hour is not None and not check_finite("--price-per-hour", args.price_per_hour) >= 0:
        raise InputError(f"--price-per-hour must be 0 or more, not {args.price_per_hour}")
    if args.resume:
        given = [flag for dest, flag in GRID_FLAGS.items() if getattr(args, dest, None) is not None]
        if given:
            raise InputError(f"{given[0]} can't be combined with --resume: a sweep resumes with its own grid")
    else:
        spec, options = build_spec(args)
    check_outputs(args)
    store = open_store(args)
    sweeps = SweepStore(store.path)
    try:
        if args.resume:
            sweep_id = sweeps.resolve(args.resume)
            sweeps.recover(sweep_id)
            sweep = sweeps.get(sweep_id)
            if sweep["status"] == "running":
                raise InputError(f"sweep {sweep_id[:8]} is still running (process {sweep['pid']} on {sweep['host']})")
            spec, options = _stored_spec(sweep["spec"], args)
        else:
            spec = _with_hardware(spec, options)
            sweep_id = create_sweep(store, spec)
        exit_code = _run_cells(store, sweep_id, spec, options)
        # a finished sweep's tables are written even when some of its cells failed (they show as failed)
        report(sweeps, sweep_id, args, write_files=exit_code in (0, CELLS_FAILED))
    finally:
        sweeps.close()
    return exit_code


def build_spec(args: argparse.Namespace):
    """The spec the flags describe, and the base backend options; InputError for anything wrong."""
    from profiler.errors import InputError
    from profiler.flag_checks import (MAX_BATCH, MAX_NEW_TOKENS, MAX_PROMPT_COUNT, MAX_REPEAT, MAX_WARMUP,
                                      check_range)
    from profiler.prompt_sets import DEFAULT_SET, load_prompt_set
    from profiler.remote.options import RemoteOptions
    from profiler.sweep.configs import PRECISIONS, read_config_file, resolve_configs
    from profiler.sweep.grid import LOCAL, REMOTE, SweepSpec, parse_int_list, parse_name_list
    from tui.commands.common import backend_options

    options = backend_options(args)
    remote = isinstance(options, RemoteOptions)
    if remote:
        for dest in ("batch_list", "precisions", "configs", "config_file"):
            if getattr(args, dest) is not None:
                raise InputError(f"{GRID_FLAGS[dest]} is for a local model; with --server vary --concurrency")
        batches = parse_int_list("--concurrency", args.concurrency_list, [1])
        options = dataclasses.replace(options, concurrency=None, request_rate=None)
    else:
        if args.concurrency_list is not None:
            raise InputError("--concurrency needs --server URL (a local model varies --batch)")
        batches = parse_int_list("--batch", args.batch_list, [1], MAX_BATCH)
        options = dataclasses.replace(options, batch=None) if hasattr(options, "batch") else options
    lengths = parse_int_list("--max-new-tokens", args.lengths, [DEFAULT_LENGTH], MAX_NEW_TOKENS)
    if args.precisions is not None and args.configs is not None:
        raise InputError("give --precision or --configs, not both (a configuration sets its own precision)")
    if args.config_file and args.configs is None:
        raise InputError("--config-file needs --configs naming the configurations to run")
    precisions = parse_name_list("--precision", args.precisions, [p for p in PRECISIONS if p != "auto"]) or ["auto"]
    configs = parse_name_list("--configs", args.configs)
    definitions = resolve_configs(configs, read_config_file(args.config_file) if args.config_file else {})
    if args.prompts_file and args.prompt_set:
        raise InputError("give --prompts or --prompt-set, not both")
    if args.prompts_file and not Path(args.prompts_file).is_file():
        raise InputError(f"prompts file not found: {args.prompts_file}")
    prompt_set = load_prompt_set(args.prompts_file or args.prompt_set or DEFAULT_SET)
    count = args.prompt_count if args.prompt_count is not None else max(max(batches), MIN_PROMPTS)
    check_range("--prompt-count", count, 1, MAX_PROMPT_COUNT)
    prompts = [prompt_set[i % len(prompt_set)].text for i in range(count)]
    warmup = 1 if args.warmup is None else args.warmup
    repeat = 1 if args.repeat is None else args.repeat
    check_range("--warmup", warmup, 0, MAX_WARMUP)
    check_range("--repeat", repeat, 1, MAX_REPEAT)
    options.validate()
    spec = SweepSpec(mode=REMOTE if remote else LOCAL, batches=batches, lengths=lengths,
                     precisions=[] if configs else precisions, configs=configs, config_definitions=definitions,
                     warmup=warmup, repeat=repeat, seed=args.seed or 0, prompts=prompts,
                     backend={k: v for k, v in dataclasses.asdict(options).items() if k != "data_dir"})
    return spec, options


def _stored_spec(data: dict, args: argparse.Namespace):
    """A stored sweep's spec and the backend options it was started with (data dir: this invocation's)."""
    from profiler.backends.options import BackendOptions
    from profiler.remote.options import RemoteOptions
    from profiler.sweep.grid import LOCAL, SweepSpec

    spec = SweepSpec.from_json(data)
    kind = BackendOptions if spec.mode == LOCAL else RemoteOptions
    known = {f.name for f in dataclasses.fields(kind)}
    options = kind(**{k: v for k, v in spec.backend.items() if k in known},
                   data_dir=getattr(args, "data_dir", None))
    return spec, options


def _with_hardware(spec, options):
    """A local sweep on the CPU probes its bandwidth and FLOPS once, for every cell's roofline floor."""
    from profiler.sweep.grid import LOCAL
    from profiler.sweep.runner import _runs_on_cuda

    if spec.mode != LOCAL or _runs_on_cuda(options):
        return spec
    import torch

    from profiler.sweep.probes import probe_cpu

    return dataclasses.replace(spec, hardware=probe_cpu(torch))


def _run_cells(store, sweep_id: str, spec, options) -> int:
    """Run the cells not yet done, with a progress bar; the exit status (128 + signal when interrupted)."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from profiler.store.sweeps import DONE, FAILED
    from profiler.sweep.grid import LOCAL, Cell
    from profiler.sweep.runner import SweepObserver, SweepRunner

    err = Console(stderr=True)
    cancel = threading.Event()
    runner: SweepRunner | None = None

    def safe(text: str) -> str:
        """Outside text (a config file's cell names, a model's or server's error) inside markup:
        controls made visible, brackets escaped."""
        from rich.markup import escape

        from profiler.printable import printable_line

        return escape(printable_line(text))

    with InterruptHandlers(cancel, lambda: runner is not None and runner.in_cell) as interrupts:
        runner = SweepRunner(store, sweep_id, options, cancel=cancel)
        rows = runner.remaining()
        cells_done = len(runner.sweeps.cells(sweep_id)) - len(rows)
        err.print(f"sweep [bold]{sweep_id}[/] · {len(rows)} cell(s) to run"
                  + (f", {cells_done} already done" if cells_done else "")
                  + f" · resume with: tokenlat-tui sweep --resume {sweep_id[:8]}", highlight=False, soft_wrap=True)
        if not rows:
            runner.close()
            return 0
        weights = {(r.cell, r.repeat): _cell_tokens(Cell.from_params(r.params), spec, local=spec.mode == LOCAL)
                   for r in rows}
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal)
        done_weight = [0]
        failed: list[str] = []

        class ProgressObserver(SweepObserver):
            def cell_started(self, row, index, total):
                progress.update(task, description=f"cell {index + 1}/{total} {safe(row.cell)}")

            def loading(self, what):
                progress.update(task, description=f"loading model ({what})")

            def token(self, session_id, record):
                progress.advance(task)

            def cell_ended(self, row, outcome):
                done_weight[0] += weights[(row.cell, row.repeat)]
                progress.update(task, completed=done_weight[0])
                if outcome.status == FAILED:
                    failed.append(row.cell)
                if outcome.status != DONE:
                    reason = f" — {outcome.reason}" if outcome.reason else ""
                    err.print(safe(f"{row.cell} (repeat {row.repeat + 1}): {outcome.status}{reason}"),
                              highlight=False, soft_wrap=True)

        runner.observer = ProgressObserver()
        try:
            with progress:
                task = progress.add_task("starting", total=sum(weights.values()))
                status = runner.run()
        finally:
            runner.close()
    if status != "finished" or interrupts.received:
        err.print(f"[yellow]interrupted[/]: the current cell was saved as 'interrupted'; "
                  f"resume with: tokenlat-tui sweep --resume {sweep_id[:8]} (tables and plots are written "
                  "when the sweep is complete)", highlight=False, soft_wrap=True)
        return interrupts.exit_code
    if failed:
        err.print(f"[red]{len(failed)} of {len(rows)} cell run(s) failed[/] ({safe(', '.join(sorted(set(failed))))}); "
                  f"the rest are in the tables; run the failed ones again with: tokenlat-tui sweep --resume "
                  f"{sweep_id[:8]}", highlight=False, soft_wrap=True)
        return CELLS_FAILED
    return interrupts.exit_code


def _cell_tokens(cell, spec, *, local: bool) -> int:
    """Tokens a cell decodes (warm-up included), the progress bar's unit."""
    if not local:  # requests: one per prompt, at least the concurrency; warm-ups one at a time
        return (spec.warmup + max(cell.batch, len(spec.prompts))) * cell.max_new_tokens
    batches = math.ceil(len(spec.prompts) / cell.batch)
    return (spec.warmup + batches) * cell.batch * cell.max_new_tokens
