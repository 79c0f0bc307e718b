"""Prompt sets shipped with the project, for sweeps and baseline-vs-optimised comparisons.

A set is a text file: one prompt per line as `kind/length<TAB>prompt`, `#` lines are comments
(the licence line lives there). `load_prompt_set` also reads a user's file in the same format,
or plain one-prompt-per-line text (kind and length then unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from profiler.errors import InputError
from profiler.flag_checks import MAX_PROMPTS_FILE_BYTES

DEFAULT_SET = "instructions-v1"
_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class SetPrompt:
    kind: str
    """prose or code ('' when the file doesn't say)."""
    length: str
    """short, medium or long ('' when the file doesn't say)."""
    text: str


def shipped_sets() -> list[str]:
    return sorted(p.stem for p in _HERE.glob("*.txt"))


def load_prompt_set(name_or_path: str = DEFAULT_SET) -> list[SetPrompt]:
    """A shipped set by name, else a file path; refuses an empty or unreadable set with one line."""
    path = _HERE / f"{name_or_path}.txt"
    if not path.is_file():
        path = Path(name_or_path)
    try:
        # at most the stated limit (+1 to notice more): a huge file or a device must not fill memory
        with path.open("rb") as file:
            raw = file.read(MAX_PROMPTS_FILE_BYTES + 1)
        if len(raw) > MAX_PROMPTS_FILE_BYTES:
            raise InputError(f"prompt set {name_or_path!r} is larger than {MAX_PROMPTS_FILE_BYTES // 2**20} MiB")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        known = ", ".join(shipped_sets())
        raise InputError(f"can't read prompt set {name_or_path!r} ({getattr(exc, 'strerror', None) or exc}); "
                         f"shipped sets: {known}") from None
    prompts = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tag, tab, prompt = line.partition("\t")
        if tab and "/" in tag and " " not in tag:
            kind, _, length = tag.partition("/")
            prompts.append(SetPrompt(kind, length, prompt.strip()))
        else:
            prompts.append(SetPrompt("", "", line.strip()))
    if not prompts:
        raise InputError(f"prompt set {name_or_path!r} has no prompts")
    return prompts


__all__ = ["DEFAULT_SET", "SetPrompt", "load_prompt_set", "shipped_sets"]
