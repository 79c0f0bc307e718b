"""The remote backend as the registry loads it: options checked, API key read, tokenizer loaded.

Unlike a local `Backend`, the server produces the tokens: `StreamingBackend.run()` sends the
requests and what comes back are text pieces with a token count, timed on arrival.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
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
    origin = "--tokenizer" if tokenizer is not None else None
    if tokenizer is None and not options.no_tokenizer:
        tokenizer, origin = server_model_tokenizer(options.server_model)
    environment = _environment(options)
    environment["tokenizer_from"] = origin  # which tokenizer counted (the token source says it did)
    info = BackendInfo(model=options.server_model or options.server, backend=f"{options.api}-server",
                       device="remote", timing="arrival", environment=environment)
    return StreamingBackend(options, info, tokenizer, read_api_key(options))


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def server_model_tokenizer(server_model: str | None) -> tuple[Any, str | None]:
    """The tokenizer of the model the server runs, when --server-model names a local folder holding one
    or a model in the local Hugging Face cache (AIPerf does the same): (tokenizer, where it came from),
    or (None, None). Never downloads; a tokenizer that can't load (or isn't a fast one) is not used."""
    if not server_model:
        return None, None
    folder = Path(server_model).expanduser()
    if folder.is_dir():
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            return None, None
        source, origin = str(folder), f"--server-model folder {folder}"
    elif _in_hf_cache(server_model):
        source, origin = server_model, f"--server-model {server_model} (Hugging Face cache)"
    else:
        return None, None
    try:
        return _load_tokenizer(source, local_only=True), origin
    except BackendError:
        return None, None


def _in_hf_cache(name: str) -> bool:
    if name.count("/") != 1 or ":" in name:  # a hub id is owner/name (Ollama's names have a tag)
        return False
    try:
        from huggingface_hub import try_to_load_from_cache

        return any(isinstance(try_to_load_from_cache(name, file), str) for file in TOKENIZER_FILES)
    except Exception:  # noqa: BLE001 - not a valid repo id, no cache: no tokenizer from there
        return False


def _load_tokenizer(path: str, local_only: bool = False) -> Any:
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path, **({"local_files_only": True} if local_only else {}))
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
