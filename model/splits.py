"""How a frame is cut into training and test rows, for each evaluation protocol.

- `seed`: the study's random 80/20 split of tokens (train_test_split, random_state 42). Kept to
  reproduce its table; it flatters every model, since a test token's neighbours are in training.
- `grouped`: whole prompts held out (GroupKFold; leave-one-prompt-out up to 10 prompts). Repeats
  of a prompt stay together, so a model is never tested on a run it has seen a twin of.
- `extrapolate`: train on contexts <= X, test above X: can it predict longer contexts than it saw?
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.frame import CONTEXT, prompt_groups
from profiler.errors import InputError

PROTOCOLS = ("grouped", "extrapolate", "seed")
DEFAULT_PROTOCOL = "grouped"
MAX_FOLDS = 10
SEED_TEST_SIZE = 0.2
SEED_RANDOM_STATE = 42


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    """Row positions to fit on."""
    test: np.ndarray
    """Row positions to predict."""


def seed_split(frame: pd.DataFrame) -> list[Split]:
    from sklearn.model_selection import train_test_split  # deferred: sklearn is slow to import

    if len(frame) < 5:
        raise InputError(f"the seed protocol's 80/20 split needs at least 5 tokens; got {len(frame)}")
    # splitting row positions draws the same permutation the study's train_test_split(X, y) drew
    train, test = train_test_split(np.arange(len(frame)), test_size=SEED_TEST_SIZE, random_state=SEED_RANDOM_STATE)
    return [Split(train, test)]


def grouped_splits(frame: pd.DataFrame) -> list[Split]:
    from sklearn.model_selection import GroupKFold

    groups = prompt_groups(frame)
    group_count = len(set(groups))
    if group_count < 2:
        raise InputError(
            f"grouped evaluation holds out whole prompts and needs at least 2; these sessions have {group_count} "
            "(collect another prompt, or use --protocol extrapolate or seed)")
    folds = GroupKFold(n_splits=min(group_count, MAX_FOLDS))
    return [Split(train, test) for train, test in folds.split(np.zeros(len(frame)), groups=groups)]


def default_train_max_context(frame: pd.DataFrame) -> int:
    """Half the longest context: the model must predict twice as far as it has seen."""
    return int(frame[CONTEXT].max()) // 2


def extrapolation_split(frame: pd.DataFrame, train_max_context: int | None = None,
                        test_max_context: int | None = None) -> list[Split]:
    limit = default_train_max_context(frame) if train_max_context is None else int(train_max_context)
    context = frame[CONTEXT].to_numpy()
    train = np.flatnonzero(context <= limit)
    beyond = context > limit
    if test_max_context is not None:
        beyond &= context <= test_max_context
    test = np.flatnonzero(beyond)
    if train.size == 0 or test.size == 0:
        raise InputError(
            f"extrapolation at context {limit} leaves {train.size} tokens to train on and {test.size} to test "
            f"(contexts run {int(context.min())}-{int(context.max())}); choose another --train-max-context")
    return [Split(train, test)]


def make_splits(frame: pd.DataFrame, protocol: str, *, train_max_context: int | None = None,
                test_max_context: int | None = None) -> list[Split]:
    if protocol == "seed":
        return seed_split(frame)
    if protocol == "grouped":
        return grouped_splits(frame)
    if protocol == "extrapolate":
        return extrapolation_split(frame, train_max_context, test_max_context)
    raise InputError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
