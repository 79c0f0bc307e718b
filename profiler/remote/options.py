"""What a remote run needs to know: the server, its API, how many streams, and how to treat failures.

No secret lives here: `api_key_env`/`api_key_file` only name where the key is. The key itself is
read by `read_api_key` when the client starts and is never stored, exported or printed.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from profiler.errors import InputError
from profiler.printable import printable_line

APIS = ("openai", "ollama")
ENDPOINTS = {"openai": ("chat", "completions"), "ollama": ("chat", "generate")}
MAX_CONCURRENCY = 1024
"""Streams in flight: each holds a socket (a process commonly may open 1024 files) and a task."""
MAX_REQUESTS = 1_000_000
"""Measured requests of one run: each is a session; the plan is built before the first is sent."""
MAX_TIMEOUT_S = 86_400.0
MAX_API_KEY_BYTES = 4096
"""An API key is tens to hundreds of bytes: a bigger --api-key-file (or /dev/zero) is not one."""


def strip_credentials(url: str) -> tuple[str, bool]:
    """`url` without a user:password@ part, and whether it had one. A URL that doesn't parse is returned
    as is (validate() says why in one line)."""
    try:
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url, False
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=host)), True
    except ValueError:
        return url, False


CREDENTIALS_WARNING = ("the credentials in the --server URL were dropped (never printed or stored); "
                       "give the API key with --api-key-env NAME or --api-key-file FILE")


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
    no_tokenizer: bool = False
    """Don't count with the tokenizer found from --server-model (a local folder, or the HF cache)."""
    dropped_credentials: bool = False
    """The --server URL held user:password@, dropped here (CREDENTIALS_WARNING says so once)."""

    def __post_init__(self) -> None:
        # every way in (CLI, the app's form, a saved setting) goes through here: a password in the URL
        # never reaches a printed line, an error, or remote_sessions.url
        server, dropped = strip_credentials(self.server)
        if dropped:
            object.__setattr__(self, "server", server)
            object.__setattr__(self, "dropped_credentials", True)

    def validate(self) -> None:
        shown = printable_line(self.server[:200])
        try:
            parts = urlsplit(self.server)
            parts.port
        except ValueError as exc:  # 'http://[::1': Invalid IPv6 URL; 'http://h:99999': port out of range
            raise InputError(f"--server {shown!r} is not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--server must be an http:// or https:// URL with a host, not {shown!r}")
        if self.api not in APIS:
            raise InputError(f"--api must be one of {', '.join(APIS)}, not {self.api!r}")
        if self.endpoint not in ENDPOINTS[self.api]:
            raise InputError(f"--endpoint for --api {self.api} must be one of {', '.join(ENDPOINTS[self.api])}, "
                             f"not {self.endpoint!r}")
        if self.api == "ollama" and not self.server_model:
            raise InputError("--api ollama needs --server-model NAME (e.g. llama3.2:1b)")
        if self.concurrency is not None and not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise InputError(f"--concurrency must be from 1 to {MAX_CONCURRENCY} (got {self.concurrency})")
        if self.request_rate is not None and not (math.isfinite(self.request_rate) and self.request_rate > 0):
            raise InputError(f"--request-rate must be a finite number of requests/s above 0 (got {self.request_rate})")
        if self.num_requests is not None and not 1 <= self.num_requests <= MAX_REQUESTS:
            raise InputError(f"--num-requests must be from 1 to {MAX_REQUESTS:,} (got {self.num_requests})")
        for flag, value in (("--stream-timeout", self.stream_timeout), ("--connect-timeout", self.connect_timeout)):
            if not 0 < value <= MAX_TIMEOUT_S:
                raise InputError(f"{flag} must be above 0 and at most {MAX_TIMEOUT_S:g} s (got {value})")
        if self.tokenizer and not Path(self.tokenizer).expanduser().is_dir():
            raise InputError(f"--tokenizer folder not found: {self.tokenizer}")
        if self.tokenizer and self.no_tokenizer:
            raise InputError("give --tokenizer DIR or --no-tokenizer, not both")
        if self.api_key_env and self.api_key_file:
            raise InputError("give --api-key-env or --api-key-file, not both")
        read_api_key(self)  # a missing key is a bad argument: say so before any request

    def describe(self) -> dict:
        """What is stored with each session: everything but where the key is (the key never is)."""
        return {"server": self.server, "api": self.api, "endpoint": self.endpoint, "server_model": self.server_model,
                "tokenizer": self.tokenizer, "no_tokenizer": self.no_tokenizer, "insecure": self.insecure, "stream_timeout": self.stream_timeout,
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
            # read with a bound (/dev/zero never ends), never blocking on a FIFO with no writer
            fd = os.open(Path(options.api_key_file).expanduser(), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(fd, "rb") as handle:
                data = handle.read(MAX_API_KEY_BYTES + 1) or b""
            if len(data) > MAX_API_KEY_BYTES:
                raise InputError(f"--api-key-file {options.api_key_file} is larger than {MAX_API_KEY_BYTES} bytes: "
                                 "not an API key")
            key = data.decode("utf-8").strip()
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
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"--extra-body is not valid JSON: {exc.msg} at column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"--extra-body: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(value, dict):
        raise InputError("--extra-body must be a JSON object, e.g. '{\"timings_per_token\": true}'")
    return value


def _no_constant(name: str):
    """json's NaN / Infinity / -Infinity: not JSON (RFC 8259), and a server would read them differently."""
    raise ValueError(f"{name} is not a finite number (JSON has no NaN or Infinity)")
