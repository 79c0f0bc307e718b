"""Flags and helpers shared by several subcommands (and the app's launcher)."""

from __future__ import annotations

import argparse
import json
import sys
import weakref
from typing import Any


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=argparse.SUPPRESS,
                        help="where the session store lives (default: $TOKENLAT_DATA_DIR, else the platform's user data dir)")


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Every backend's flags (each backend declares its own: profiler/backends/registry.py)."""
    from profiler.backends.registry import add_backend_arguments as add_all

    add_all(parser)


def backend_options(args: argparse.Namespace):
    """The selected backend's options from parsed flags (given before or after the subcommand):
    BackendOptions for a local model, RemoteOptions with --server."""
    from profiler.backends.registry import options_from_args

    return options_from_args(args)


_OPENED: weakref.WeakSet = weakref.WeakSet()
"""Stores `open_store` opened and still in use, for `close_stores` (weak: in-process callers such as
tests open many, and a store nobody holds closes as it always did)."""


def open_store(args: argparse.Namespace):
    from profiler.store import SessionStore

    store = SessionStore(getattr(args, "data_dir", None))
    _OPENED.add(store)
    return store


def close_stores() -> None:
    """Close every store a command opened: the CLI does so before ending a signalled run without the
    interpreter's teardown (tui/cli.py), which would otherwise have closed them."""
    for store in list(_OPENED):
        store.close()


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
