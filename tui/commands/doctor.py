"""`tokenlat-tui doctor`: how noisy this machine is for timing, one finding a line, with what to do.

Load average, steal time and the busiest other processes (sampled over half a second), the CPU
frequency governor, and on an NVIDIA GPU: other processes on it, persistence mode, locked clocks,
power limit, ECC (profiler/machine_noise.py). Always exits 0: a noisy machine is a finding, not an
error; `collect` and the app run the same check before a run.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser("doctor", help="check how noisy this machine is for timing, and what to do about it")
    sub.add_argument("--json", action="store_true", help="the findings as a JSON object")
    sub.add_argument("--gpu", type=int, default=0, metavar="INDEX", help="which NVIDIA GPU to check (default 0)")
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from profiler.errors import InputError
    from profiler.machine_noise import check_machine, noise_record
    from profiler.printable import printable_line

    if args.gpu < 0:
        raise InputError(f"--gpu must be 0 or more (got {args.gpu})")
    findings = check_machine(gpu_index=args.gpu)
    if args.json:
        from tui.commands.common import json_safe, print_json

        print_json(json_safe(noise_record(findings)))
        return 0
    for finding in findings:
        # process names are outside text: one line each, control characters made visible
        print(printable_line(finding.line()))
    noisy = sum(f.noisy for f in findings)
    print(f"{noisy} noisy finding{'s' if noisy != 1 else ''}: timings taken now will carry them"
          if noisy else "quiet: nothing found that would disturb timings")
    return 0
