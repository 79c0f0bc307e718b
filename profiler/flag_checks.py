"""Checks of numeric flags shared by the CLI, the app and the backends: one definition of each range."""

from __future__ import annotations

import math
import re

from profiler.errors import InputError

SEED_MIN = -0x8000_0000_0000_0000
SEED_MAX = 0xFFFF_FFFF_FFFF_FFFF
"""torch.manual_seed's inclusive range (torch/random.py); outside it torch raises 'Overflow when unpacking long'."""


def check_seed(flag: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{flag} must be a whole number, not {value!r}")
    if not SEED_MIN <= value <= SEED_MAX:
        raise InputError(f"{flag} must be between {SEED_MIN} and {SEED_MAX} (torch's seed range), not {value}")


def check_finite(flag: str, value: object) -> float:
    """The value as a float, or an InputError for nan, inf and non-numbers (argparse's float() accepts 'nan')."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{flag} must be a finite number, not {value!r}")
    return float(value)


SETTING_LABELS = {"--max-new-tokens": "max new tokens", "--temperature": "temperature", "--top-p": "top-p",
                  "--warmup": "warm-up runs", "--repeat": "repeats", "--seed": "seed"}
"""The run settings' flags, as the app's settings panel labels the same fields."""


def without_flags(message: str) -> str:
    """A settings error as the app words it: 'top-p must be in (0, 1]', where the CLI says '--top-p ...'.

    The checks stay one definition and keep naming the flag for the CLI; the app, which has no flags,
    names the field instead.
    """
    return re.sub(r"--[a-z][a-z0-9-]*", lambda flag: SETTING_LABELS.get(flag.group(0), flag.group(0)[2:]), message)


__all__ = ["SEED_MAX", "SEED_MIN", "SETTING_LABELS", "check_finite", "check_seed", "without_flags"]
