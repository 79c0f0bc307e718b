"""Every backend declares its CLI flags, how flags become its options, and how it loads.

`add_backend_arguments(parser)` puts every backend's flags on a parser; `options_from_args(args)`
picks the backend the flags select (the first entry whose options come back non-None; the Hugging
Face one is the default); `load_backend(options)` dispatches on the options' type.

A local backend loads into a `Backend` the timed decode loop drives token by token. The remote
backend (profiler/remote) loads into a `StreamingBackend`: the server produces the tokens, and
what comes back are text pieces with a token count, stamped as they arrive.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable

from profiler.backends import hf_flags
from profiler.errors import InputError
from profiler.remote import flags as remote_flags


@dataclass(frozen=True)
class BackendKind:
    name: str
    options_type: type
    add_arguments: Callable[[argparse.ArgumentParser], None]
    options_from_args: Callable[[argparse.Namespace], Any]
    """The options these flags describe, or None when the flags select another backend."""
    given_flags: Callable[[argparse.Namespace], list[str]]
    load: Callable[..., Any]
    """(options, progress) -> the loaded backend."""


def _registry() -> list[BackendKind]:
    from profiler.backends.options import BackendOptions
    from profiler.remote.options import RemoteOptions

    return [
        BackendKind("remote", RemoteOptions, remote_flags.add_arguments, remote_flags.options_from_args,
                    remote_flags.given_flags, remote_flags.load),
        BackendKind("huggingface", BackendOptions, hf_flags.add_arguments, hf_flags.options_from_args,
                    hf_flags.given_flags, hf_flags.load),
    ]


BACKENDS: list[BackendKind] = _registry()
DEFAULT = "huggingface"


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    # the default backend's group first: --help reads as it did before servers existed
    for kind in sorted(BACKENDS, key=lambda k: k.name != DEFAULT):
        kind.add_arguments(parser)


def options_from_args(args: argparse.Namespace) -> Any:
    """The selected backend's options; flags of two backends together are one clear error."""
    for kind in BACKENDS:
        options = kind.options_from_args(args)
        if options is None:
            continue
        for other in BACKENDS:
            stray = other.given_flags(args) if other is not kind and other.name == DEFAULT else []
            if stray:
                raise InputError(f"{stray[0]} is for a local model; it can't be combined with --server")
        return options
    raise AssertionError("the default backend always returns options")  # pragma: no cover


def kind_of(options: Any) -> BackendKind:
    for kind in BACKENDS:
        if isinstance(options, kind.options_type):
            return kind
    raise TypeError(f"no backend takes {type(options).__name__}")


def load_backend(options: Any, progress: Any = None) -> Any:
    """Load what `options` describe (validated first, so a bad flag costs no loading time)."""
    return kind_of(options).load(options, progress)
