"""The remote backend as the registry loads it: options checked, API key read, tokenizer loaded.

Unlike a local `Backend`, the server produces the tokens: `StreamingBackend.run()` sends the
requests and what comes back are text pieces with a token count, timed on arrival.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiler.backends.base import BackendInfo
from profiler.errors import BackendError
from profiler.remote.options import RemoteOptions, read_api_key


@dataclass
class StreamingBackend:
    options: RemoteOptions
    info: BackendInfo
    tokenizer: Any = None
    _api_key: str | None = None

    def __repr__(self) -> str:  # the key must never reach a log or a traceback through repr()
        return f"StreamingBackend(server={self.options.server!r}, api={self.options.api!r})"

    def run(self, store, settings, prompts: list[str], *, cancel=None, observer=None):
        from profiler.remote.runner import RemoteRun

        return RemoteRun(self, store, settings, cancel=cancel, observer=observer).run(prompts)

    def close(self) -> None:
        self._api_key = None

    # Callers built for a local `Backend` (the token-by-token Collector) get one clear line, not an
    # AttributeError: a server's run is `run()` (the engine's run_remote, collect --server).
    def encode(self, prompt: str) -> list[int]:
        raise BackendError(APP_NOT_YET)

    def start(self, input_ids, sampling):
        raise BackendError(APP_NOT_YET)

    def synchronize(self) -> None:
        """Nothing to wait for: the server's device isn't ours."""


APP_NOT_YET = "a server streams its own tokens: it runs through RemoteRun (collect --server, the app's ctrl+o form)"


def load_remote_backend(options: RemoteOptions, progress=None) -> StreamingBackend:
    options.validate()
    tokenizer = _load_tokenizer(options.tokenizer) if options.tokenizer else None
    environment = _environment(options)
    info = BackendInfo(model=options.server_model or options.server, backend=f"{options.api}-server",
                       device="remote", timing="arrival", environment=environment)
    return StreamingBackend(options, info, tokenizer, read_api_key(options))


def _load_tokenizer(path: str) -> Any:
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - any failure means the same to the user
        raise BackendError(f"can't load the tokenizer in {path}: {str(exc).strip().splitlines()[0][:300]}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise BackendError(f"--tokenizer {path}: a fast tokenizer is needed (offsets map tokens to chunks)")
    return tokenizer


def _environment(options: RemoteOptions) -> dict[str, Any]:
    from profiler.environment import base_environment, package_version

    environment = base_environment()
    environment.update({"timing": "arrival", "remote": options.describe(), "aiohttp": package_version("aiohttp")})
    return environment
