"""The token frame `model/` fits on: checks, phases, configuration fingerprints, prompt groups.

A frame is what `SessionStore.tokens_frame()` returns (columns in `profiler.columns`): one row per
token, sessions oldest first, tokens in k order. A frame read straight from the seed CSV (only the
five seed columns) works too: the missing columns are filled in here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from profiler.columns import FINGERPRINT_FIELDS
from profiler.errors import InputError

SESSION = "Prompt_ID"
INPUT = "Input_Token_Length"
CONTEXT = "Context_Size"
TOKEN_INDEX = "Token_Index_k"
TARGET = "Per_Token_Latency_ms"
PREFILL = "prefill"
DECODE = "decode"
PHASES = (PREFILL, DECODE)

_REQUIRED = [SESSION, INPUT, CONTEXT, TARGET]


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """A checked copy in the same row order, with `phase`, `prompt` and the fingerprint columns present."""
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"token frame lacks column(s) {', '.join(missing)}")
    if frame.empty:
        raise InputError("no tokens to fit")
    prepared = frame.reset_index(drop=True).copy()
    for column in (INPUT, CONTEXT, TARGET):
        prepared[column] = pd.to_numeric(prepared[column], errors="coerce")
        if prepared[column].isna().any():
            raise InputError(f"column {column} has missing or non-numeric values")
    if "phase" not in prepared.columns or prepared["phase"].isna().any():
        if TOKEN_INDEX not in prepared.columns:
            raise InputError(f"token frame needs a phase or {TOKEN_INDEX} column")
        # as the store does it: token k = 1 is the prompt's processing, the rest are decode steps
        prepared["phase"] = np.where(prepared[TOKEN_INDEX] == 1, PREFILL, DECODE)
    if "prompt" not in prepared.columns:
        prepared["prompt"] = ""
    for field in FINGERPRINT_FIELDS:
        if field not in prepared.columns:
            prepared[field] = ""
    return prepared


def is_first_token(frame: pd.DataFrame) -> np.ndarray:
    return (frame["phase"] == PREFILL).to_numpy()


def first_token_mask(input_tokens: np.ndarray, context_sizes: np.ndarray) -> np.ndarray:
    """Which (input, context) pairs are first tokens: the context is still just the prompt."""
    return np.asarray(context_sizes) <= np.asarray(input_tokens)


def normal_value(value: Any) -> Any:
    """A fingerprint value in a form that compares equal across SQLite, pandas and JSON."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def row_fingerprints(frame: pd.DataFrame) -> list[tuple]:
    """Per row, its configuration as a tuple of normalised FINGERPRINT_FIELDS values (absent = "")."""
    columns = [frame[f].map(normal_value) if f in frame.columns else [""] * len(frame) for f in FINGERPRINT_FIELDS]
    return list(zip(*columns))


def configurations(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The distinct configuration fingerprints in the frame, in order of first appearance."""
    seen: dict[tuple, None] = dict.fromkeys(row_fingerprints(frame))
    return [dict(zip(FINGERPRINT_FIELDS, key)) for key in seen]


def fingerprint(frame: pd.DataFrame) -> dict[str, Any]:
    """The one configuration of the frame's sessions; an error when they mix several."""
    found = configurations(frame)
    if len(found) > 1:
        described = "; ".join(describe_fingerprint(f) for f in found)
        raise InputError(f"the sessions span {len(found)} configurations ({described}); fit one at a time")
    return found[0]


def describe_fingerprint(fingerprint_values: dict[str, Any]) -> str:
    shown = [f"{k}={v}" for k, v in fingerprint_values.items() if v not in ("", None)]
    return ", ".join(shown) or "unknown configuration"


def fingerprint_differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """'field: expected -> actual' for each fingerprint field that differs."""
    differences = []
    for field in FINGERPRINT_FIELDS:
        want, got = normal_value(expected.get(field)), normal_value(actual.get(field))
        if want != got:
            differences.append(f"{field} {want!r} vs {got!r}")
    return differences


def prompt_groups(frame: pd.DataFrame) -> np.ndarray:
    """One label per row: sessions that repeat the same prompt and configuration share a label.

    Used both for the noise floor (repeats) and for grouped cross-validation, where repeats of a
    prompt must sit on the same side of a split. Sessions whose prompt text is unknown (the seed
    CSV has none) are never taken for repeats of each other: each is its own group.
    """
    prompts = frame["prompt"].fillna("").astype(str) if "prompt" in frame.columns else [""] * len(frame)
    keys = []
    for session, prompt, input_tokens, config in zip(frame[SESSION], prompts, frame[INPUT], row_fingerprints(frame)):
        if prompt:
            keys.append(repr((prompt, int(input_tokens), config)))
        else:
            keys.append(repr(("session", str(session))))
    return np.asarray(keys, dtype=object)


def training_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """What a fitted model was trained on, saved with it so a reader can judge where it applies."""
    return {
        "sessions": list(dict.fromkeys(frame[SESSION].astype(str))),
        "tokens": int(len(frame)),
        "context_min": int(frame[CONTEXT].min()),
        "context_max": int(frame[CONTEXT].max()),
        "input_min": int(frame[INPUT].min()),
        "input_max": int(frame[INPUT].max()),
    }
