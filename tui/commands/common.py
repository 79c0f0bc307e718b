"""Flags and helpers shared by several subcommands (and the app's launcher)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=argparse.SUPPRESS,
                        help="where the session store lives (default: $TOKENLAT_DATA_DIR, else the platform's user data dir)")


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model and backend")
    group.add_argument("--model", default=argparse.SUPPRESS,
                       help="local model folder or Hugging Face hub id (default: the embedded random-weights model)")
    group.add_argument("--random-weights", metavar="ARCH|CONFIG.json", default=argparse.SUPPRESS,
                       help="build a shipped architecture (e.g. mistral-7b-v0.3) or a config.json with random weights")
    group.add_argument("--dtype", choices=["auto", "float32", "float16", "bfloat16"], default=argparse.SUPPRESS)
    group.add_argument("--quant", choices=["none", "8bit", "4bit"], default=argparse.SUPPRESS,
                       help="bitsandbytes quantisation")
    group.add_argument("--device", default=argparse.SUPPRESS, help="auto | cpu | cuda | cuda:N")
    group.add_argument("--attn", choices=["auto", "eager", "sdpa", "flash_attention_2"], default=argparse.SUPPRESS)
    group.add_argument("--trust-remote-code", action="store_true", default=argparse.SUPPRESS)
    group.add_argument("--raw", action="store_true", default=argparse.SUPPRESS,
                       help="don't apply the tokenizer's chat template")


def backend_options(args: argparse.Namespace):
    """BackendOptions from parsed flags (given before or after the subcommand)."""
    from profiler.backends.options import BackendOptions

    return BackendOptions(
        model=getattr(args, "model", None),
        random_weights=getattr(args, "random_weights", None),
        dtype=getattr(args, "dtype", "auto"),
        quant=getattr(args, "quant", "none"),
        device=getattr(args, "device", "auto"),
        attn=getattr(args, "attn", "auto"),
        trust_remote_code=getattr(args, "trust_remote_code", False),
        raw=getattr(args, "raw", False),
        data_dir=getattr(args, "data_dir", None),
    )


def open_store(args: argparse.Namespace):
    from profiler.store import SessionStore

    return SessionStore(getattr(args, "data_dir", None))


def stdout_console():
    from rich.console import Console

    return Console()


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str, allow_nan=False)
    sys.stdout.write("\n")


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, recursively, so --json output is strict JSON."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
