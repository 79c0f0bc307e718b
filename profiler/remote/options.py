"""What a remote run needs to know: the server, its API, how many streams, and how to treat failures.

No secret lives here: `api_key_env`/`api_key_file` only name where the key is. The key itself is
read by `read_api_key` when the client starts and is never stored, exported or printed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from profiler.errors import InputError

APIS = ("openai", "ollama")
ENDPOINTS = {"openai": ("chat", "completions"), "ollama": ("chat", "generate")}


@dataclass(frozen=True)
class RemoteOptions:
    server: str
    """Base URL, e.g. http://127.0.0.1:8000 (a trailing /v1 is accepted for OpenAI-compatible servers)."""
    api: str = "openai"
    endpoint: str = "chat"
    server_model: str | None = None
    """The `model` field of each request; omitted for OpenAI-compatible servers when not given."""
    tokenizer: str | None = None
    """Local tokenizer folder: counts tokens in the joined text when the server gives no per-chunk counts."""
    api_key_env: str | None = None
    api_key_file: str | None = None
    insecure: bool = False
    """Skip TLS certificate verification (self-signed test servers only)."""
    stream_timeout: float = 60.0
    """Seconds without a byte from the server before a stream counts as stalled."""
    connect_timeout: float = 10.0
    concurrency: int | None = None
    """Streams in flight: a closed loop of this many (default 1); with --request-rate, a cap (default none)."""
    request_rate: float | None = None
    """Poisson arrivals at this many requests/s instead of a closed loop."""
    num_requests: int | None = None
    """Measured requests; default: one per prompt and repeat, at least --concurrency."""
    stream_options: bool = True
    """Ask for per-chunk usage (stream_options include_usage + continuous_usage_stats)."""
    logprobs: bool = False
    """Ask for logprobs: their entries count tokens per chunk on servers that return them."""
    extra_body: dict = field(default_factory=dict)
    """Server-specific request fields, e.g. llama.cpp's {"timings_per_token": true}."""
    data_dir: str | None = None

    def validate(self) -> None:
        parts = urlsplit(self.server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--server must be an http:// or https:// URL with a host, not {self.server!r}")
        try:
            parts.port
        except ValueError:
            raise InputError(f"--server {self.server!r} has a bad port") from None
        if self.api not in APIS:
            raise InputError(f"--api must be one of {', '.join(APIS)}, not {self.api!r}")
        if self.endpoint not in ENDPOINTS[self.api]:
            raise InputError(f"--endpoint for --api {self.api} must be one of {', '.join(ENDPOINTS[self.api])}, "
                             f"not {self.endpoint!r}")
        if self.api == "ollama" and not self.server_model:
            raise InputError("--api ollama needs --server-model NAME (e.g. llama3.2:1b)")
        if self.concurrency is not None and self.concurrency < 1:
            raise InputError(f"--concurrency must be at least 1 (got {self.concurrency})")
        if self.request_rate is not None and not self.request_rate > 0:
            raise InputError(f"--request-rate must be positive (got {self.request_rate})")
        if self.num_requests is not None and self.num_requests < 1:
            raise InputError(f"--num-requests must be at least 1 (got {self.num_requests})")
        for flag, value in (("--stream-timeout", self.stream_timeout), ("--connect-timeout", self.connect_timeout)):
            if not value > 0:
                raise InputError(f"{flag} must be positive (got {value})")
        if self.tokenizer and not Path(self.tokenizer).expanduser().is_dir():
            raise InputError(f"--tokenizer folder not found: {self.tokenizer}")
        if self.api_key_env and self.api_key_file:
            raise InputError("give --api-key-env or --api-key-file, not both")
        read_api_key(self)  # a missing key is a bad argument: say so before any request

    def describe(self) -> dict:
        """What is stored with each session: everything but where the key is (the key never is)."""
        return {"server": self.server, "api": self.api, "endpoint": self.endpoint, "server_model": self.server_model,
                "tokenizer": self.tokenizer, "insecure": self.insecure, "stream_timeout": self.stream_timeout,
                "concurrency": self.concurrency, "request_rate": self.request_rate,
                "num_requests": self.num_requests, "stream_options": self.stream_options,
                "logprobs": self.logprobs, "extra_body": sorted(self.extra_body),
                "api_key": "given" if (self.api_key_env or self.api_key_file) else "none"}


def read_api_key(options: RemoteOptions) -> str | None:
    if options.api_key_env:
        key = os.environ.get(options.api_key_env, "").strip()
        if not key:
            raise InputError(f"--api-key-env {options.api_key_env}: that environment variable is not set or empty")
        return key
    if options.api_key_file:
        try:
            key = Path(options.api_key_file).expanduser().read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"can't read --api-key-file {options.api_key_file}: "
                             f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
        if not key:
            raise InputError(f"--api-key-file {options.api_key_file} is empty")
        return key
    return None


def parse_extra_body(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--extra-body is not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(value, dict):
        raise InputError("--extra-body must be a JSON object, e.g. '{\"timings_per_token\": true}'")
    return value
