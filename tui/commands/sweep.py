"""`tokenlat-tui sweep`: a grid of batch sizes, lengths and precisions (or configurations) as one study.

    tokenlat-tui sweep --batch 1,8 --max-new-tokens 16,32 --precision fp32,int8 --plot plots --out tables
    tokenlat-tui sweep --configs baseline,sdpa,static-compile,int8,int4 --price-per-hour 2.5
    tokenlat-tui sweep --server URL --concurrency 1,8,32 --max-new-tokens 64
    tokenlat-tui sweep --resume SWEEP_ID        (runs the cells not done; a finished sweep is just reported)
    tokenlat-tui sweep --list
"""

from __future__ import annotations

import argparse

from tui.commands.common import add_backend_arguments, add_store_arguments

GRID_FLAGS = {"batch_list": "--batch", "concurrency_list": "--concurrency", "lengths": "--max-new-tokens",
              "precisions": "--precision", "configs": "--configs", "config_file": "--config-file",
              "prompts_file": "--prompts", "prompt_set": "--prompt-set", "prompt_count": "--prompt-count",
              "warmup": "--warmup", "repeat": "--repeat", "seed": "--seed"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    # "resolve": the sweep's --batch and --concurrency take lists, replacing the backend's one-value flags
    sub = subparsers.add_parser("sweep", help="run a grid of batch/length/precision or configurations, with plots",
                                description="Run a grid of cells (batch x length x precision, configurations, or "
                                            "server concurrency), store every cell's sessions, and report per-cell "
                                            "figures, the scaling analysis, plots and tables.",
                                conflict_handler="resolve")
    add_store_arguments(sub)
    add_backend_arguments(sub)
    grid = sub.add_argument_group("grid")
    grid.add_argument("--batch", dest="batch_list", metavar="LIST", help="batch sizes, e.g. 1,8,32 (default 1)")
    grid.add_argument("--concurrency", dest="concurrency_list", metavar="LIST",
                      help="with --server: streams in flight, e.g. 1,8,32 (default 1)")
    grid.add_argument("--max-new-tokens", dest="lengths", metavar="LIST", help="generation lengths (default 32)")
    grid.add_argument("--precision", dest="precisions", metavar="LIST",
                      help="fp32, fp16, bf16, int8, int4 (int8/int4 need bitsandbytes on a CUDA GPU)")
    grid.add_argument("--configs", metavar="LIST",
                      help="configurations to compare with the first (or 'baseline'): baseline, sdpa, "
                           "static-compile, int8, int4, or names from --config-file")
    grid.add_argument("--config-file", metavar="FILE", help="TOML file of [configs.NAME] tables")
    grid.add_argument("--warmup", type=int, metavar="N", help="warm-up batches per cell (default 1)")
    grid.add_argument("--repeat", type=int, metavar="N", help="times each cell runs, spread over the sweep (default 1)")
    grid.add_argument("--seed", type=int, metavar="S", help="order of the cells (and sampling seed; default 0)")
    prompts = sub.add_argument_group("prompts")
    prompts.add_argument("--prompts", dest="prompts_file", metavar="FILE", help="prompts file, one per line")
    prompts.add_argument("--prompt-set", metavar="NAME", help="a shipped prompt set (default instructions-v1)")
    prompts.add_argument("--prompt-count", type=int, metavar="N",
                         help="prompts each cell runs (default: the largest batch, at least 8)")
    output = sub.add_argument_group("output")
    output.add_argument("--list", action="store_true", help="list the sweeps in the store and exit")
    output.add_argument("--resume", metavar="SWEEP_ID",
                        help="run the cells of this sweep that aren't done, then report")
    output.add_argument("--plot", metavar="DIR", help="write latency/throughput/frontier plots (PNG and SVG) here")
    output.add_argument("--out", metavar="DIR", help="write the per-cell tables (CSV and JSON) here")
    output.add_argument("--force", action="store_true", help="replace files already in --plot/--out")
    output.add_argument("--price-per-hour", type=float, metavar="USD",
                        help="the machine's price per hour: adds cost per 1M output tokens")
    output.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tui.commands.sweep_run import run_sweep

    return run_sweep(args)
