"""The name a model's forward takes its KV cache by: `cache` in newer transformers 5, else `past_key_values`.

transformers 5 renamed the argument (and the output field) to `cache` (5.25 has it), keeping
`past_key_values=` as a deprecated alias that warns on every call and goes away in 5.40. The older 5.x releases that
`pyproject.toml` allows take only `past_key_values`; there `cache=` would land in `**kwargs` and be
ignored silently, so the decode step would run without its cache. Reading the name off the forward's
signature once, at load, serves both without a per-step cost or a version table.
"""

from __future__ import annotations

import inspect
from typing import Any

NEW_NAME = "cache"
OLD_NAME = "past_key_values"


def cache_keyword(model: Any) -> str:
    """`cache` when `model.forward` declares it (the decorators keep `__wrapped__`), else `past_key_values`."""
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # a forward without a readable signature: the long-standing name
        return OLD_NAME
    return NEW_NAME if NEW_NAME in parameters else OLD_NAME


__all__ = ["NEW_NAME", "OLD_NAME", "cache_keyword"]
