"""Checks of numeric flags shared by the CLI, the app and the backends: one definition of each range."""

from __future__ import annotations

import math
import re

from profiler.errors import InputError

SEED_MIN = -0x8000_0000_0000_0000
SEED_MAX = 0xFFFF_FFFF_FFFF_FFFF
"""torch.manual_seed's inclusive range (torch/random.py); outside it torch raises 'Overflow when unpacking long'."""


def check_seed(flag: str, value: object) -> None:
    check_range(flag, value, SEED_MIN, SEED_MAX, why=" (torch's seed range)")


def check_finite(flag: str, value: object) -> float:
    """The value as a float, or an InputError for nan, inf and non-numbers (argparse's float() accepts 'nan')."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{flag} must be a finite number, not {value!r}")
    return float(value)


# Stated ranges of the local run's numeric flags (README, "collect"). Each is far past any real run and
# checked before any work: a typo such as `--batch 1000000000` is one line, not an allocation that hangs.
MAX_BATCH = 4096
"""--batch: sequences decoded together (a KV cache and logits per sequence are allocated up front)."""
MAX_NEW_TOKENS = 1 << 20
"""--max-new-tokens: past every model's context window (a static cache is sized by it)."""
MAX_REPEAT = 10_000
"""--repeat: generations per prompt."""
MAX_WARMUP = 1_000
"""--warmup: warm-up generations before the measured ones."""
MAX_SPIKES = 10_000
"""show --spikes N: the longest spike list worth printing; fewer tokens simply list them all."""
MAX_CONTEXT = 1 << 24
"""fit --train-max-context / --test-max-context: a context size in tokens, far past any model's window."""
MAX_PROMPT_COUNT = 100_000
"""sweep --prompt-count: prompts a cell runs."""
MAX_LIST_VALUES = 64
"""A sweep grid list (--batch 1,8,32): more values than this is a typo, not a study."""
MAX_PROMPTS_FILE_BYTES = 8 * 2**20
"""--prompts FILE: far more prompt text than a study runs; /dev/zero is refused at this size, not read on."""


def check_range(flag: str, value: object, low: int, high: int, *, why: str = "") -> int:
    """A whole number within [low, high], else one InputError line stating the range (and `why` it is that)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{flag} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise InputError(f"{flag} must be between {low} and {high}{why}, not {value}")
    return value


SETTING_LABELS = {"--max-new-tokens": "max new tokens", "--temperature": "temperature", "--top-p": "top-p",
                  "--warmup": "warm-up runs", "--repeat": "repeats", "--seed": "seed"}
"""The run settings' flags, as the app's settings panel labels the same fields."""


def without_flags(message: str) -> str:
    """A settings error as the app words it: 'top-p must be in (0, 1]', where the CLI says '--top-p ...'.

    The checks stay one definition and keep naming the flag for the CLI; the app, which has no flags,
    names the field instead.
    """
    return re.sub(r"--[a-z][a-z0-9-]*", lambda flag: SETTING_LABELS.get(flag.group(0), flag.group(0)[2:]), message)


__all__ = ["MAX_BATCH", "MAX_CONTEXT", "MAX_LIST_VALUES", "MAX_NEW_TOKENS", "MAX_PROMPTS_FILE_BYTES",
           "MAX_PROMPT_COUNT", "MAX_REPEAT", "MAX_SPIKES", "MAX_WARMUP", "SEED_MAX", "SEED_MIN", "SETTING_LABELS", "check_finite", "check_range",
           "check_seed", "without_flags"]
