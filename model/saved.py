"""Fitted models on disk: one JSON file each (see `FittedPredictor.to_json`).

A model file is data a user may share or hand-edit, so loading checks its shape before using it:
anything else is one InputError line, never a RecursionError or AttributeError traceback.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from model.fitted import FittedPredictor
from profiler.errors import InputError

MAX_MODEL_FILE_BYTES = 16 * 1024 * 1024
"""A saved model is a few KB; reading at most this much keeps /dev/zero or a huge file from filling memory."""

_REQUIRED = {"predictor": str, "fingerprint": dict, "parameters": dict, "residual_quantiles": dict,
             "residual_mean": dict}
"""Top-level keys and their JSON types (format and version are checked by FittedPredictor.from_json)."""


def save_model(fitted: FittedPredictor, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the model as JSON through the project's one writer: a regular file only, an existing one
    replaced only with `force`, written beside and renamed (an interrupted save leaves nothing half-written)."""
    from profiler.export_target import write_file

    text = json.dumps(fitted.to_json(), indent=2, allow_nan=False)
    return write_file(path, text + "\n", force=force)


def load_model(path: str | os.PathLike) -> FittedPredictor:
    path = Path(path).expanduser()
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_MODEL_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"no model file {path}") from None
    except OSError as exc:
        raise InputError(f"can't read the model file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_MODEL_FILE_BYTES:
        raise InputError(f"{path} is not a JSON latency model: larger than {MAX_MODEL_FILE_BYTES // 2**20} MiB")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise InputError(f"{path} is not a JSON latency model: nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path} is not a JSON latency model: {exc}") from None
    check_model_json(data, path)
    fitted = FittedPredictor.from_json(data)
    _check_predicts(fitted, path)
    return fitted


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a model can hold")


def check_model_json(data: Any, path: str | os.PathLike) -> None:
    """InputError naming the first part of `data` that is not the shape `FittedPredictor.to_json` writes."""
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a tokenlat-tui latency model (expected a JSON object)")
    if "format" not in data or "version" not in data:
        return  # from_json words that refusal (not a latency model / unsupported version)
    for key, kind in _REQUIRED.items():
        if not isinstance(data.get(key), kind):
            raise _damaged(path, f"'{key}' is not a JSON {_JSON_NAMES[kind]}")
    for name, value in data["parameters"].items():
        _check_parameter(value, path, f"parameters.{name}")
    for name, value in data["fingerprint"].items():
        if not (value is None or isinstance(value, (str, bool, int, float))):
            raise _damaged(path, f"fingerprint.{name} is not a single value")
    for name, values in data["residual_quantiles"].items():
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise _damaged(path, f"residual_quantiles.{name} is not a list of numbers")
    for name, value in data["residual_mean"].items():
        if not _is_number(value):
            raise _damaged(path, f"residual_mean.{name} is not a number")
    if not isinstance(data.get("training", {}), dict):
        raise _damaged(path, "'training' is not a JSON object")


def _check_parameter(value: Any, path: str | os.PathLike, where: str) -> None:
    """Predictor parameters are numbers (or null), lists of numbers, or one level of named numbers."""
    if value is None or _is_number(value):
        return
    if isinstance(value, list) and all(_is_number(v) for v in value):
        return
    if isinstance(value, dict) and all(v is None or _is_number(v) for v in value.values()):
        return
    raise _damaged(path, f"{where} is not a number, a list of numbers or named numbers")


def _check_predicts(fitted: FittedPredictor, path: str | os.PathLike) -> None:
    """A trial prediction (a first token and a decode step): catches parameter lists of mismatched
    lengths, empty tables and the like, which the shape check can't see."""
    try:
        predicted = fitted.predict([16, 16], [16, 64])
        finite = all(math.isfinite(v) for v in predicted)
    except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
        raise _damaged(path, f"it can't predict ({exc})") from None
    if not finite:
        raise _damaged(path, "its predictions are not finite numbers")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float (JSON allows 400 digits)
        return False


_JSON_NAMES = {str: "string", dict: "object"}


def _damaged(path: str | os.PathLike, what: str) -> InputError:
    return InputError(f"latency model file {path} is damaged: {what}")
