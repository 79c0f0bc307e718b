"""The remote backend's CLI flags and how they become `RemoteOptions` (its registry entry's parts).

Only argparse here: `tokenlat-tui --help` must stay fast, so aiohttp is imported by the client alone.
"""

from __future__ import annotations

import argparse

from profiler.errors import InputError
from profiler.remote.options import APIS, RemoteOptions, parse_extra_body

# attribute -> flag, for the flags that mean nothing without --server
FLAG_NAMES = {"api": "--api", "server_model": "--server-model", "endpoint": "--endpoint", "tokenizer": "--tokenizer", "no_tokenizer": "--no-tokenizer",
              "api_key_env": "--api-key-env", "api_key_file": "--api-key-file", "insecure": "--insecure",
              "stream_timeout": "--stream-timeout", "connect_timeout": "--connect-timeout",
              "concurrency": "--concurrency", "request_rate": "--request-rate", "num_requests": "--num-requests",
              "no_stream_options": "--no-stream-options", "logprobs": "--logprobs", "extra_body": "--extra-body"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    S = argparse.SUPPRESS  # the flags may come before or after the subcommand
    group = parser.add_argument_group("remote server (OpenAI-compatible or Ollama)")
    group.add_argument("--server", metavar="URL", default=S,
                       help="profile a running server instead of a local model, e.g. http://127.0.0.1:8000")
    group.add_argument("--api", choices=list(APIS), default=S, help="the server's API (default openai)")
    group.add_argument("--endpoint", choices=["chat", "completions", "generate"], default=S,
                       help="openai: chat | completions; ollama: chat | generate (default chat)")
    group.add_argument("--server-model", metavar="NAME", default=S, help="the request's model field")
    group.add_argument("--tokenizer", metavar="DIR", default=S,
                       help="local tokenizer folder, to count tokens when the server doesn't say per chunk "
                            "(default: --server-model's, when it names a local folder or a model in the HF cache)")
    group.add_argument("--no-tokenizer", action="store_true", default=S,
                       help="don't use --server-model's tokenizer: count from the server's figures and the chunks")
    group.add_argument("--api-key-env", metavar="NAME", default=S,
                       help="environment variable holding the API key (never stored or printed)")
    group.add_argument("--api-key-file", metavar="FILE", default=S, help="file holding the API key")
    group.add_argument("--insecure", action="store_true", default=S, help="don't verify the server's TLS certificate")
    group.add_argument("--stream-timeout", type=float, metavar="S", default=S,
                       help="seconds without data before a stream counts as stalled (default 60)")
    group.add_argument("--connect-timeout", type=float, metavar="S", default=S, help="default 10")
    group.add_argument("--concurrency", type=int, metavar="N", default=S,
                       help="streams kept in flight (closed loop; default 1)")
    group.add_argument("--request-rate", type=float, metavar="R", default=S,
                       help="send requests as a Poisson process at R/s instead (at most --concurrency in flight)")
    group.add_argument("--num-requests", type=int, metavar="N", default=S,
                       help="measured requests (default: one per prompt and repeat, at least --concurrency)")
    group.add_argument("--no-stream-options", action="store_true", default=S,
                       help="don't send stream_options (for servers that reject it)")
    group.add_argument("--logprobs", action="store_true", default=S,
                       help="ask for logprobs, whose entries count tokens per chunk")
    group.add_argument("--extra-body", metavar="JSON", default=S,
                       help="extra request fields, e.g. '{\"timings_per_token\": true}' for llama.cpp")


def given_flags(args: argparse.Namespace) -> list[str]:
    return [flag for name, flag in FLAG_NAMES.items() if hasattr(args, name)]


def options_from_args(args: argparse.Namespace) -> RemoteOptions | None:
    """RemoteOptions when --server is given; None otherwise (a remote-only flag alone is an error)."""
    if not hasattr(args, "server"):
        stray = given_flags(args)
        if stray:
            raise InputError(f"{stray[0]} needs --server URL")
        return None
    api = getattr(args, "api", "openai")
    rate = getattr(args, "request_rate", None)
    return RemoteOptions(
        server=args.server, api=api, endpoint=getattr(args, "endpoint", "chat"),
        server_model=getattr(args, "server_model", None), tokenizer=getattr(args, "tokenizer", None),
        api_key_env=getattr(args, "api_key_env", None), api_key_file=getattr(args, "api_key_file", None),
        insecure=getattr(args, "insecure", False), stream_timeout=getattr(args, "stream_timeout", 60.0),
        connect_timeout=getattr(args, "connect_timeout", 10.0), concurrency=getattr(args, "concurrency", None),
        request_rate=rate, num_requests=getattr(args, "num_requests", None),
        stream_options=not getattr(args, "no_stream_options", False), logprobs=getattr(args, "logprobs", False),
        extra_body=parse_extra_body(getattr(args, "extra_body", None)), data_dir=getattr(args, "data_dir", None),
        no_tokenizer=getattr(args, "no_tokenizer", False),
    )


def load(options: RemoteOptions, progress=None):
    from profiler.remote.backend import load_remote_backend

    return load_remote_backend(options, progress)
