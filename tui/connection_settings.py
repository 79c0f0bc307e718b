"""What the connection form holds: the local model, or a server and how to reach it.

Kept as typed text (what the user sees in the form), remembered for the app session by the run
controller, and turned into `RemoteOptions` only when applied: `to_options` checks every field
and raises one `InputError` line naming the field, so the form can say it in a notification.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from profiler.errors import InputError
from profiler.remote.options import RemoteOptions


@dataclass(frozen=True)
class ConnectionSettings:
    server: str = ""
    """Base URL of the server; empty means the local model (loaded by the engine)."""
    api: str = "openai"
    endpoint: str = "chat"
    server_model: str = ""
    concurrency: str = "1"
    api_key_env: str = ""
    """The NAME of the environment variable holding the key: the key itself is never typed or stored."""
    stream_timeout: str = "60"
    tokenizer: str = ""
    """Local tokenizer folder, to count tokens when the server doesn't say per chunk."""
    insecure: bool = False
    no_tokenizer: bool = False
    """Don't use the server model's own tokenizer (a local folder or the HF cache), found by default."""

    @property
    def is_local(self) -> bool:
        return not self.server.strip()

    def to_options(self) -> RemoteOptions | None:
        """None for the local model; else checked RemoteOptions (InputError names the bad field)."""
        if self.is_local:
            return None
        concurrency = _number("concurrency", self.concurrency, int)
        timeout = _number("stream timeout", self.stream_timeout, float)
        if not math.isfinite(timeout):
            raise InputError(f"stream timeout: {self.stream_timeout!r} is not a number of seconds")
        options = RemoteOptions(server=self.server.strip(), api=self.api, endpoint=self.endpoint,
                                server_model=self.server_model.strip() or None, concurrency=concurrency,
                                api_key_env=self.api_key_env.strip() or None, stream_timeout=timeout,
                                tokenizer=self.tokenizer.strip() or None, insecure=self.insecure,
                                no_tokenizer=self.no_tokenizer)
        try:
            options.validate()
        except InputError as exc:  # its lines name CLI flags; the form names fields
            raise InputError(re.sub(r"--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", " "), str(exc))) from None
        return options

    @classmethod
    def from_options(cls, options: RemoteOptions) -> ConnectionSettings:
        """The form as a `--server ...` command line filled it in."""
        return replace(cls(), server=options.server, api=options.api, endpoint=options.endpoint,
                       server_model=options.server_model or "", concurrency=str(options.concurrency or 1),
                       api_key_env=options.api_key_env or "", stream_timeout=f"{options.stream_timeout:g}",
                       tokenizer=options.tokenizer or "", insecure=options.insecure,
                       no_tokenizer=options.no_tokenizer)


def _number(name: str, raw: str, kind: type):
    try:
        return kind(raw.strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise InputError(f"{name}: {raw.strip()!r} is not {what}") from None


def describe(options: RemoteOptions) -> str:
    """One line naming the target, for the form's status and notifications."""
    streams = options.concurrency or 1
    model = f" · model {options.server_model}" if options.server_model else ""
    return (f"{options.server} · {options.api} {options.endpoint}{model} · "
            f"{streams} stream{'s' if streams != 1 else ''}")
