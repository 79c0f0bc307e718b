"""The Hugging Face backend's CLI flags and how they become `BackendOptions` (its registry entry's parts).

Only argparse and the option constants here: `tokenlat-tui --help` must not import torch.
"""

from __future__ import annotations

import argparse

from profiler.backends.options import ATTNS, CACHES, DTYPES, QUANTS, BackendOptions

# Flags that only make sense for a model loaded in this process: refused next to --server.
FLAG_NAMES = {"model": "--model", "random_weights": "--random-weights", "dtype": "--dtype", "quant": "--quant",
              "device": "--device", "attn": "--attn", "trust_remote_code": "--trust-remote-code", "raw": "--raw",
              "skip_memory_check": "--skip-memory-check", "batch": "--batch", "cache": "--cache",
              "compile": "--compile"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # default=SUPPRESS everywhere: the flags may come before or after the subcommand
    group = parser.add_argument_group("model and backend")
    group.add_argument("--model", default=argparse.SUPPRESS,
                       help="local model folder or Hugging Face hub id (default: the embedded random-weights model)")
    group.add_argument("--random-weights", metavar="ARCH|CONFIG.json", default=argparse.SUPPRESS,
                       help="build a shipped architecture (e.g. mistral-7b-v0.3) or a config.json with random weights")
    group.add_argument("--dtype", choices=list(DTYPES), default=argparse.SUPPRESS)
    group.add_argument("--quant", choices=list(QUANTS), default=argparse.SUPPRESS,
                       help="bitsandbytes quantisation")
    group.add_argument("--device", default=argparse.SUPPRESS, help="auto | cpu | cuda | cuda:N")
    group.add_argument("--attn", choices=list(ATTNS), default=argparse.SUPPRESS)
    group.add_argument("--trust-remote-code", action="store_true", default=argparse.SUPPRESS)
    group.add_argument("--raw", action="store_true", default=argparse.SUPPRESS,
                       help="don't apply the tokenizer's chat template")
    group.add_argument("--skip-memory-check", action="store_true", default=argparse.SUPPRESS,
                       help="load even when the weights look larger than the free RAM/GPU memory")
    group.add_argument("--batch", type=int, metavar="B", default=argparse.SUPPRESS,
                       help="decode B sequences together (prompts cycled over them), one session each, "
                            "grouped under one run with its aggregate tokens/s")
    group.add_argument("--cache", choices=list(CACHES), default=argparse.SUPPRESS,
                       help="KV cache: dynamic (default) or static, allocated once (needs --batch)")
    group.add_argument("--compile", action="store_true", default=argparse.SUPPRESS,
                       help="torch.compile the decode step (needs --cache static); compilation is timed apart")


def given_flags(args: argparse.Namespace) -> list[str]:
    """The Hugging Face flags present on the command line (SUPPRESS leaves absent ones unset)."""
    return [flag for name, flag in FLAG_NAMES.items() if hasattr(args, name)]


def options_from_args(args: argparse.Namespace) -> BackendOptions:
    return BackendOptions(
        model=getattr(args, "model", None),
        random_weights=getattr(args, "random_weights", None),
        dtype=getattr(args, "dtype", "auto"),
        quant=getattr(args, "quant", "none"),
        device=getattr(args, "device", "auto"),
        attn=getattr(args, "attn", "auto"),
        trust_remote_code=getattr(args, "trust_remote_code", False),
        raw=getattr(args, "raw", False),
        skip_memory_check=getattr(args, "skip_memory_check", False),
        batch=getattr(args, "batch", None),
        cache=getattr(args, "cache", "dynamic"),
        compile=getattr(args, "compile", False),
        data_dir=getattr(args, "data_dir", None),
    )


def load(options: BackendOptions, progress=None):
    from profiler.backends.options import load_backend  # validates, then imports torch

    return load_backend(options, progress)
