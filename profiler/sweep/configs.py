"""Precisions and configuration presets, as the backend options each one loads the model with.

A precision is a dtype or a bitsandbytes quantisation. A configuration is a named set of backend
options: the presets below (the seed's "baseline vs optimised" list), or a user's own in a TOML file:

    [configs.fast]
    attn = "sdpa"
    dtype = "bfloat16"
    cache = "static"
    compile = true

Keys are backend options: dtype, quant, attn, cache, compile. A cell whose options can't run on the
device (int8/int4 need bitsandbytes on a CUDA GPU) is skipped with the reason `unsupported_reason` gives.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from profiler.errors import InputError

PRECISIONS: dict[str, dict[str, str]] = {
    "auto": {},
    "fp32": {"dtype": "float32"},
    "fp16": {"dtype": "float16"},
    "bf16": {"dtype": "bfloat16"},
    "int8": {"quant": "8bit"},
    "int4": {"quant": "4bit"},
}

PRESETS: dict[str, dict[str, Any]] = {
    # eager attention, dynamic KV cache, no compilation: what a plain transformers loop does
    "baseline": {"attn": "eager"},
    "sdpa": {"attn": "sdpa"},
    "static-compile": {"attn": "sdpa", "cache": "static", "compile": True},
    "int8": {"attn": "sdpa", "quant": "8bit"},
    "int4": {"attn": "sdpa", "quant": "4bit"},
}
BASELINE = "baseline"
CONFIG_KEYS = ("dtype", "quant", "attn", "cache", "compile")
MAX_CONFIG_FILE_BYTES = 1 << 20


def read_config_file(path: str) -> dict[str, dict[str, Any]]:
    """User configurations from a TOML file's [configs.NAME] tables; one clear line for anything wrong."""
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_CONFIG_FILE_BYTES + 1)
        if len(raw) > MAX_CONFIG_FILE_BYTES:
            raise InputError(f"config file {path} is larger than 1 MiB")
        data = tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise InputError(f"can't read config file {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"config file {path} is not valid TOML: {exc}") from None
    configs = data.get("configs")
    if not isinstance(configs, dict) or not configs:
        raise InputError(f"config file {path} defines no [configs.NAME] table")
    result = {}
    for name, options in configs.items():
        if not isinstance(options, dict):
            raise InputError(f"config file {path}: configs.{name} must be a table of options")
        unknown = sorted(set(options) - set(CONFIG_KEYS))
        if unknown:
            raise InputError(f"config file {path}: configs.{name} has unknown option {unknown[0]!r} "
                             f"(known: {', '.join(CONFIG_KEYS)})")
        if not name or "," in name or " " in name:
            raise InputError(f"config file {path}: configuration name {name!r} can't be empty or hold ',' or spaces")
        result[name] = dict(options)
    return result


def resolve_configs(names: list[str], user: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each name's options: the user's definition first (it may redefine a preset), else the preset."""
    known = {**PRESETS, **user}
    missing = [n for n in names if n not in known]
    if missing:
        raise InputError(f"--configs: unknown configuration {missing[0]!r}; known: {', '.join(known)}")
    return {name: dict(known[name]) for name in names}


def cell_options(base: Any, precision: str, config: dict[str, Any] | None, batch: int = 1) -> Any:
    """The BackendOptions a cell loads: the flags' options with the precision's or configuration's on top,
    and the cell's batch size (a static cache is sized for it).

    Options this build's backend doesn't have (e.g. `cache` before static caches exist) raise
    InputError naming them, which the runner stores as the cell's skip reason.
    """
    overrides = dict(config) if config is not None else dict(PRECISIONS[precision])
    fields = {f.name for f in dataclasses.fields(base)}
    missing = [key for key in overrides if key not in fields]
    if missing:
        raise InputError(f"option {missing[0]!r} is not supported by this build's backend")
    if "batch" in fields:
        overrides["batch"] = batch
    options = dataclasses.replace(base, **overrides)
    options.validate()
    return options


def unsupported_reason(options: Any, *, cuda: bool, bitsandbytes: bool) -> str | None:
    """Why these options can't run here, or None. Checked before loading, so a skip costs no load."""
    quant = getattr(options, "quant", "none")
    if quant != "none":
        name = "int8" if quant == "8bit" else "int4"
        if not cuda:
            return f"{name} needs bitsandbytes on a CUDA GPU; this sweep runs on the CPU"
        if not bitsandbytes:
            return f"{name} needs the bitsandbytes package, which is not installed"
    return None


__all__ = ["BASELINE", "CONFIG_KEYS", "PRECISIONS", "PRESETS", "cell_options", "read_config_file",
           "resolve_configs", "unsupported_reason"]
