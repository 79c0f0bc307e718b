"""What a sweep varies, its cells, and the order they run in.

A cell is one point of the grid (e.g. batch 8, 32 tokens, fp32); it runs `repeat` times. The order
is shuffled with the sweep's seed, one fresh permutation per repeat round: every cell's first repeat
comes before any cell's second, so slow drift (heat, a neighbour's load) falls on all cells alike
instead of on whichever cells happen to run last.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from profiler.errors import InputError
from profiler.flag_checks import MAX_LIST_VALUES

LOCAL = "local"
REMOTE = "remote"

MAX_AXIS_VALUE = 1 << 20
"""Far beyond any batch, length or concurrency a sweep could run: refuses typos like 1,80000000."""


@dataclass(frozen=True)
class Cell:
    """One grid point. `key` names it in the store (sweep_cells.cell, sessions.cell)."""

    batch: int = 1
    """Sequences decoded together (local) — or streams in flight (remote: the concurrency)."""
    max_new_tokens: int = 16
    precision: str = "auto"
    """A precision name (fp32, int8, …) or 'auto' (what the backend flags say)."""
    config: str = ""
    """A configuration preset's name ('' when the sweep varies precision instead)."""

    @property
    def key(self) -> str:
        parts = [f"config={self.config}"] if self.config else []
        parts += [f"batch={self.batch}", f"tokens={self.max_new_tokens}"]
        if not self.config:
            parts.append(f"precision={self.precision}")
        return " ".join(parts)

    @property
    def line(self) -> str:
        """The plot line / table group the cell belongs to: everything but the batch."""
        what = self.config or self.precision
        return f"{what} · {self.max_new_tokens} tokens"

    def params(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Cell:
        return cls(**{k: params[k] for k in ("batch", "max_new_tokens", "precision", "config") if k in params})


@dataclass(frozen=True)
class PlannedCell:
    cell: Cell
    repeat: int
    position: int
    """0-based place in the run order."""


@dataclass(frozen=True)
class SweepSpec:
    """Everything a sweep needs to run, or to resume later in another process (stored as JSON)."""

    mode: str
    batches: list[int]
    """Batch sizes (local) or concurrency levels (remote)."""
    lengths: list[int]
    precisions: list[str] = field(default_factory=lambda: ["auto"])
    configs: list[str] = field(default_factory=list)
    """Preset/user configuration names; when given, they replace the precision axis."""
    config_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each named configuration's backend options (presets resolved, user ones from the TOML file)."""
    warmup: int = 1
    repeat: int = 1
    seed: int = 0
    prompts: list[str] = field(default_factory=list)
    """The prompts every cell runs (the same for every cell, so outputs can be compared)."""
    backend: dict[str, Any] = field(default_factory=dict)
    """The backend options the flags gave (model, device, …; remote: server, api, …)."""
    hardware: dict[str, Any] = field(default_factory=dict)
    """Figures for the roofline: probed bandwidth/FLOPS on a CPU, or the GPU's name."""

    def cells(self) -> list[Cell]:
        if self.configs:
            return [Cell(batch=b, max_new_tokens=n, config=c)
                    for c in self.configs for b in self.batches for n in self.lengths]
        return [Cell(batch=b, max_new_tokens=n, precision=p)
                for p in self.precisions for b in self.batches for n in self.lengths]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepSpec:
        return cls(**data)


def describe_grid(spec: dict[str, Any]) -> str:
    """A stored spec in one line: 'batch 1,8 · tokens 16,32 · fp32,int8' (lists, the app's sweep list)."""
    what = ",".join(spec.get("configs") or spec.get("precisions") or [])
    axis = "batch" if spec.get("mode") == LOCAL else "concurrency"
    return (f"{axis} {','.join(map(str, spec.get('batches', [])))} · tokens "
            f"{','.join(map(str, spec.get('lengths', [])))} · {what}")


def plan(spec: SweepSpec) -> list[PlannedCell]:
    """Every (cell, repeat) in run order: a seeded shuffle of the cells per repeat round."""
    rng = random.Random(spec.seed)
    cells = spec.cells()
    order: list[PlannedCell] = []
    for repeat in range(spec.repeat):
        round_cells = list(cells)
        rng.shuffle(round_cells)
        order += [PlannedCell(cell, repeat, len(order) + i) for i, cell in enumerate(round_cells)]
    return order


def _list_items(flag: str, text: str) -> list[str]:
    """A grid list's comma-separated items, at most MAX_LIST_VALUES of them."""
    items = text.split(",", MAX_LIST_VALUES)  # split no further than needed to see there are too many
    if len(items) > MAX_LIST_VALUES:
        raise InputError(f"{flag}: more than {MAX_LIST_VALUES} values in the list")
    return items


def parse_int_list(flag: str, text: str | None, default: list[int], maximum: int = MAX_AXIS_VALUE) -> list[int]:
    """'1,8,32' -> [1, 8, 32] (sorted, duplicates dropped), each in 1..`maximum` and at most
    MAX_LIST_VALUES of them; one clear line for anything else."""
    if text is None:
        return default
    values = []
    for item in _list_items(flag, text):
        item = item.strip()
        if not item:
            raise InputError(f"{flag}: empty value in {text!r} (give a comma-separated list such as 1,8,32)")
        try:
            value = int(item)
        except ValueError:
            raise InputError(f"{flag}: {item!r} is not a whole number") from None
        if not 1 <= value <= maximum:
            raise InputError(f"{flag}: {value} is out of range (1 to {maximum})")
        values.append(value)
    return sorted(set(values))


def parse_name_list(flag: str, text: str | None, known: list[str] | None = None) -> list[str]:
    """'fp32,int8' -> ['fp32', 'int8'] in the given order, duplicates dropped; unknown names refused."""
    if text is None:
        return []
    names: list[str] = []
    for item in _list_items(flag, text):
        item = item.strip()
        if not item:
            raise InputError(f"{flag}: empty value in {text!r} (give a comma-separated list)")
        if known is not None and item not in known:
            raise InputError(f"{flag}: unknown {item!r}; known: {', '.join(known)}")
        if item not in names:
            names.append(item)
    return names


__all__ = ["Cell", "LOCAL", "PlannedCell", "REMOTE", "SweepSpec", "describe_grid", "parse_int_list", "parse_name_list",
           "plan"]
