"""Shipped model architectures: Hugging Face `config.json` files of well-known models.

They serve two users: `--random-weights NAME` builds the real architecture with random weights
(`AutoModelForCausalLM.from_config`), and the estimator reads layer counts and widths from them.
Each file holds the published hyper-parameters of the model's own `config.json` on the Hub, so an
estimate for a preset is an estimate for the real model. Pure Python + json: no torch here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from profiler.errors import InputError

# short or customary names -> shipped file stem
ALIASES = {
    "mistral-7b": "mistral-7b-v0.3",
    "llama-2": "llama-2-7b",
    "llama2-7b": "llama-2-7b",
    "llama2-13b": "llama-2-13b",
    "llama2-70b": "llama-2-70b",
    "llama3-8b": "llama-3-8b",
    "llama3-70b": "llama-3-70b",
    "llama3.1-8b": "llama-3.1-8b",
}

# words in hub ids that name a fine-tune or a packaging of the same architecture, not a new one
_VARIANT_WORDS = {"instruct", "chat", "hf", "it", "base"}


def list_architectures() -> list[str]:
    """Names of the shipped presets, sorted (aliases left out)."""
    return sorted(_preset_files())


def load_architecture(name_or_path: str) -> dict[str, Any]:
    """A Hugging Face config dict from a preset name (any case), a config.json path, or a model folder.

    Returns a fresh copy each call: callers may change it (the random-weights backend pops keys).
    """
    text = str(name_or_path).strip()
    if not text:
        raise InputError("empty architecture name; shipped: " + ", ".join(list_architectures()))
    preset = _preset_name(text)
    if preset is not None and not _looks_like_path(text):
        return json.loads(json.dumps(_load_preset(preset)))  # deep copy of the cached dict
    path = Path(text).expanduser()
    if not path.exists() and not _looks_like_path(text) and not text.lower().endswith(".json"):
        # a bare word that is no file: the user meant a preset name
        raise InputError(f"unknown architecture {text!r}; shipped: {', '.join(list_architectures())}"
                         " (or give a config.json path or a model folder)")
    return _load_config_path(path)


def match_architecture(model_id: str | None) -> str | None:
    """The preset whose architecture a model id names, or None.

    "mistralai/Mistral-7B-Instruct-v0.3" -> "mistral-7b-v0.3", "meta-llama/Llama-2-7b-chat-hf" ->
    "llama-2-7b": fine-tunes share their base model's shapes, which is all the estimator needs.
    """
    if not model_id:
        return None
    direct = _preset_name(model_id)
    if direct is not None:
        return direct
    last = str(model_id).strip().rstrip("/").split("/")[-1].lower()
    words = [w for w in last.split("-") if w and w not in _VARIANT_WORDS]
    if words and words[0] == "meta":  # "Meta-Llama-3-8B"
        words = words[1:]
    return _preset_name("-".join(words))


def _preset_name(name: str) -> str | None:
    key = str(name).strip().lower()
    if key.endswith(".json"):
        key = key[: -len(".json")]
    key = ALIASES.get(key, key)
    return key if key in _preset_files() else None


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith(("~", "."))


@lru_cache(maxsize=1)
def _preset_files() -> dict[str, Any]:
    folder = resources.files(__name__)
    return {entry.name[: -len(".json")]: entry for entry in folder.iterdir() if entry.name.endswith(".json")}


@lru_cache(maxsize=None)
def _load_preset(name: str) -> dict[str, Any]:
    return json.loads(_preset_files()[name].read_text(encoding="utf-8"))


def _load_config_path(path: Path) -> dict[str, Any]:
    if path.is_dir():
        folder, path = path, path / "config.json"
        if not path.is_file():
            raise InputError(f"model folder {folder} has no config.json")
    elif not path.is_file():
        raise InputError(f"no such config file or model folder: {path}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"can't read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(config, dict):
        raise InputError(f"{path} is not a config.json (expected a JSON object)")
    return config


__all__ = ["ALIASES", "list_architectures", "load_architecture", "match_architecture"]
