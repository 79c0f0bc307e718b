"""Fitted models on disk: one JSON file each (see `FittedPredictor.to_json`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from model.fitted import FittedPredictor
from profiler.errors import InputError


def save_model(fitted: FittedPredictor, path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    text = json.dumps(fitted.to_json(), indent=2, allow_nan=False)
    try:
        # write beside, then rename: an interrupted save never leaves half a model behind
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text + "\n", encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        raise InputError(f"can't save the model to {path}: {exc.strerror or exc}") from None
    return path


def load_model(path: str | os.PathLike) -> FittedPredictor:
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no model file {path}") from None
    except OSError as exc:
        raise InputError(f"can't read the model file {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a JSON latency model: {exc}") from None
    return FittedPredictor.from_json(data)
