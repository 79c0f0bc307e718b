"""`tokenlat-tui collect`: timed generations stored as sessions, with a per-session summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from profiler.flag_checks import MAX_PROMPTS_FILE_BYTES  # the one stated limit (collect and sweep)
from tui.commands.common import add_backend_arguments, add_store_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser("collect", help="run prompts and record every token's latency",
                                description="Run prompts on a model and record every token's latency in the store.")
    sub.add_argument("prompts", nargs="*", metavar="PROMPT")
    sub.add_argument("--prompts", dest="prompts_file", metavar="FILE",
                     help="read prompts from FILE, one per line ('-' for stdin)")
    add_run_arguments(sub)
    sub.add_argument("--json", action="store_true", help="print the sessions as JSON instead of a table")
    add_store_arguments(sub)
    add_backend_arguments(sub)
    sub.set_defaults(handler=run)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("generation")
    group.add_argument("--max-new-tokens", type=int, default=128, metavar="N")
    group.add_argument("--ignore-eos", action="store_true", help="always generate --max-new-tokens tokens")
    group.add_argument("--warmup", type=int, default=1, metavar="N",
                       help="warm-up generations, recorded and flagged, left out of statistics (default 1)")
    group.add_argument("--repeat", type=int, default=1, metavar="N", help="generations per prompt")
    group.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    group.add_argument("--top-p", type=float, default=1.0)
    group.add_argument("--seed", type=int, default=0, help="sampling seed")
    group.add_argument("--no-gc-freeze", action="store_true", help="don't gc.collect(); gc.freeze() after warm-up")
    group.add_argument("--breakdown", nargs="?", const="classes", choices=("classes", "layers"), default=None,
                       help="after the timed runs, one profiled pass (torch.profiler) on the same prompt and "
                            "settings, stored apart: time per operator class (attention, MLP, norms...), "
                            "per layer with 'layers'; see show ID --breakdown")


def run_settings(args: argparse.Namespace):
    from profiler.backends.base import SamplingSettings
    from profiler.collect import RunSettings

    return RunSettings(max_new_tokens=args.max_new_tokens, ignore_eos=args.ignore_eos, warmup=args.warmup,
                       repeat=args.repeat, gc_freeze=not args.no_gc_freeze,
                       sampling=SamplingSettings(temperature=args.temperature, top_p=args.top_p, seed=args.seed))


def read_prompts(args: argparse.Namespace) -> list[str]:
    import sys

    from profiler.errors import InputError

    prompts = list(args.prompts)
    if args.prompts_file:
        try:
            # read at most the limit (+1 to notice more): /dev/zero or a runaway pipe must not fill memory
            if args.prompts_file == "-":
                raw = sys.stdin.buffer.read(MAX_PROMPTS_FILE_BYTES + 1)
            else:
                with Path(args.prompts_file).open("rb") as file:
                    raw = file.read(MAX_PROMPTS_FILE_BYTES + 1)
            if len(raw) > MAX_PROMPTS_FILE_BYTES:
                source = "standard input" if args.prompts_file == "-" else f"prompts file {args.prompts_file}"
                raise InputError(f"{source} is larger than {MAX_PROMPTS_FILE_BYTES // 2**20} MiB of prompts")
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"can't read prompts file {args.prompts_file}: {getattr(exc, 'strerror', None) or exc}") from None
        prompts += [line for line in text.splitlines() if line.strip()]
        if not prompts:
            raise InputError(f"prompts file {args.prompts_file} has no prompts")
    return prompts


def run(args: argparse.Namespace) -> int:
    from profiler.collect import check_prompts
    from tui.commands.collect_run import collect_and_report
    from tui.commands.common import backend_options, open_store

    # everything checkable without the model is checked first: a bad flag costs no model load
    settings = run_settings(args)
    settings.validate()
    prompts = read_prompts(args)
    check_prompts(prompts)
    options = backend_options(args)
    options.validate()
    store = open_store(args)
    from profiler.remote.options import RemoteOptions

    if getattr(args, "breakdown", None) and (isinstance(options, RemoteOptions) or options.batch is not None):
        from profiler.errors import InputError

        raise InputError("--breakdown profiles the one-sequence loop of a local model: not with --server or --batch")
    if isinstance(options, RemoteOptions):  # --server: a remote server streams the tokens
        from tui.commands.collect_remote import collect_remote

        return collect_remote(store, options, settings, prompts, as_json=args.json)
    if options.batch is not None:  # --batch B: B sequences decode together, one session each
        from tui.commands.collect_batch import collect_batch_and_report

        return collect_batch_and_report(store, options, settings, prompts, as_json=args.json)
    return collect_and_report(store, options, settings, prompts, as_json=args.json,
                              breakdown=getattr(args, "breakdown", None))
