"""What a session and a token are: ONE table of their fields, from which everything else follows.

Each field says where it lives (the `sessions` or `tokens` table), its SQL type and default (as the
schema's migrations create it: tests/test_session_fields.py checks they agree), its Python type and
default, its CSV column and how a CSV cell is read back, and whether it is part of the
configuration fingerprint. From this table follow:

- `SessionMeta`, `TokenRecord` and `SessionSummary` (profiler/records.py), and which BackendInfo
  attributes a collected session copies (`backend_fields`, profiler/collect.py),
- the INSERT and SELECT column lists of the store (profiler/store/session_rows.py, token_rows.py,
  session_store.py, writer.py),
- the CSV columns and their order (profiler/columns.py, csv_export.py) and the import mapping
  (profiler/csv_import.py),
- `config_fingerprint(meta)`: a short stable hash of what determines speed.

Adding a field: add a row here and a migration in profiler/store/schema.py (the schema's history
is kept literal: a migration must never change once released). A new CSV column is appended to
CSV_LAYOUT (through one of its groups), so the positions of existing readers' columns hold.

No imports of torch, sqlite or the CSV reader here: records.py builds its dataclasses from this.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

SESSIONS = "sessions"
TOKENS = "tokens"

# what a field is to a session (tokens are all TOKEN)
META = "meta"
"""Known when the session starts: a SessionMeta attribute, written with the session's row."""
STATE = "state"
"""Kept by the store itself: identity, status, owner process, times, error."""
SUMMARY = "summary"
"""Headline figures computed from the tokens when the session ends (SessionSummary)."""
TOKEN = "token"

_REQUIRED = object()
"""Python default of a field that must be given (SessionMeta(prompt=..., ...))."""


@dataclass(frozen=True)
class Field:
    name: str
    """Column in its table, and the attribute of SessionMeta / TokenRecord / SessionSummary."""
    table: str
    role: str
    sql: str
    """Type and constraints as the schema declares them (documentation, checked by a test)."""
    type: Any = str
    """Python type, as SessionMeta/TokenRecord annotate it."""
    default: Any = _REQUIRED
    csv: str | None = None
    """CSV column name; None: not exported per token."""
    read: str | None = None
    """How import reads the CSV cell: a profiler.csv_cells.CellReader method ('integer', 'text', ...)."""
    read_options: tuple[tuple[str, Any], ...] = ()
    """Keyword arguments of that method (minimum, default)."""
    fingerprint: bool = False
    """Part of the configuration: determines speed (config_fingerprint)."""
    json: bool = False
    """Stored as JSON text (a dict in Python)."""
    doc: str = ""
    from_backend: str | None = None
    """The profiler.backends.base.BackendInfo attribute a collected session takes this field from."""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def _f(name, table, role, sql, type_=str, default=_REQUIRED, *, csv=None, read=None, fingerprint=False, json_=False,
       doc="", backend=None, **read_options) -> Field:
    """A row of the table. Keyword `empty` (and `minimum`) go to the CSV reader: what an empty cell means."""
    if "empty" in read_options:
        read_options["default"] = read_options.pop("empty")
    return Field(name, table, role, sql, type_, default, csv, read, tuple(read_options.items()), fingerprint, json_,
                 doc, backend)


_S, _T = SESSIONS, TOKENS
_OPT_INT, _OPT_FLOAT, _OPT_STR = int | None, float | None, str | None

SESSION_FIELDS: tuple[Field, ...] = (
    # -- the store's own (not in SessionMeta)
    _f("id", _S, STATE, "TEXT PRIMARY KEY", csv="Prompt_ID", doc="the session id (a UUID; imported ids are kept)"),
    _f("status", _S, STATE, "TEXT NOT NULL", csv="session_status", read="status",
       doc="running, finished, interrupted or failed"),
    _f("started", _S, STATE, "TEXT NOT NULL", csv="session_started", read="timestamp", doc="ISO 8601, UTC"),
    _f("ended", _S, STATE, "TEXT"),
    _f("host", _S, STATE, "TEXT NOT NULL DEFAULT ''", doc="the writing process's host and pid: orphan detection"),
    _f("pid", _S, STATE, "INTEGER"),
    _f("pid_started", _S, STATE, "REAL"),
    _f("error", _S, STATE, "TEXT"),
    # -- SessionMeta: what ran, on what, with which settings (in SessionMeta's field order)
    _f("prompt", _S, META, "TEXT NOT NULL", csv="prompt", read="text"),
    _f("input_tokens", _S, META, "INTEGER NOT NULL", int, csv="Input_Token_Length", read="integer", minimum=0,
       doc="tokens in the (chat-templated) prompt"),
    _f("model", _S, META, "TEXT NOT NULL DEFAULT ''", csv="model", backend="model", read="text", fingerprint=True,
       doc="model id, folder or architecture name"),
    _f("model_label", _S, META, "TEXT NOT NULL DEFAULT ''", str, "", csv="model_label", backend="label", read="text",
       doc="e.g. 'random weights': shown everywhere the model is named"),
    _f("quant", _S, META, "TEXT NOT NULL DEFAULT 'none'", str, "none", csv="quant", backend="quant",
       read="text", fingerprint=True),
    _f("dtype", _S, META, "TEXT NOT NULL DEFAULT ''", str, "", csv="dtype", backend="dtype",
       read="text", fingerprint=True),
    _f("device", _S, META, "TEXT NOT NULL DEFAULT ''", str, "", csv="device", backend="device",
       read="text", fingerprint=True),
    _f("backend", _S, META, "TEXT NOT NULL DEFAULT ''", str, "huggingface", csv="backend", backend="backend",
       read="text", fingerprint=True),
    _f("batch_size", _S, META, "INTEGER NOT NULL DEFAULT 1", int, 1, csv="batch_size", backend="batch_size",
       read="integer", minimum=1, empty=1, fingerprint=True, doc="sequences decoded together"),
    _f("attn", _S, META, "TEXT NOT NULL DEFAULT ''", str, "", csv="attn", backend="attn",
       read="text", fingerprint=True),
    _f("gpu_name", _S, META, "TEXT NOT NULL DEFAULT ''", str, "", csv="gpu_name", backend="gpu_name",
       read="text", fingerprint=True),
    _f("warmup", _S, META, "INTEGER NOT NULL DEFAULT 0", bool, False, csv="warmup", read="boolean",
       doc="a warm-up generation: recorded, flagged, left out of statistics and fits"),
    _f("repeat_index", _S, META, "INTEGER NOT NULL DEFAULT 0", int, 0, csv="repeat_index", read="integer",
       minimum=0, empty=0),
    _f("settings", _S, META, "TEXT NOT NULL DEFAULT '{}'", dict, dict, json_=True,
       doc="run settings; its SPEED_SETTINGS keys are part of the configuration fingerprint"),
    _f("environment", _S, META, "TEXT NOT NULL DEFAULT '{}'", dict, dict, json_=True,
       doc="versions, model config, GPU: what ran, for the record"),
    _f("source", _S, META, "TEXT NOT NULL DEFAULT 'collect'", str, "collect", doc="collect, remote, import:FILE"),
    # schema v2 (remote servers)
    _f("timing", _S, META, "TEXT NOT NULL DEFAULT 'device'", str, "device", csv="timing", backend="timing",
       read="timing", doc="device (timed around each decode step) or arrival (a remote stream, seen by the client)"),
    _f("run_id", _S, META, "TEXT", _OPT_STR, None, doc="the run grouping this session (remote streams, a batch)"),
    # schema v3 (batched decoding, sweeps, configurations)
    _f("batch_index", _S, META, "INTEGER NOT NULL DEFAULT 0", int, 0, csv="batch_index", read="integer", minimum=0,
       empty=0, doc="which sequence of a batched run (0 .. batch_size - 1)"),
    _f("eos_k", _S, META, "INTEGER", _OPT_INT, None, csv="eos_k", read="integer", minimum=1, empty=None,
       doc="k at which the sequence produced EOS; None = never"),
    _f("sweep_id", _S, META, "TEXT", _OPT_STR, None, csv="sweep_id", read="text", empty=None),
    _f("cell", _S, META, "TEXT", _OPT_STR, None, csv="cell", read="text", empty=None, doc="sweep cell key"),
    _f("config", _S, META, "TEXT NOT NULL DEFAULT ''", str, "", csv="config", read="text",
       doc="configuration fingerprint (config_fingerprint); filled in when the session is written"),
    _f("compile_ms", _S, META, "REAL", _OPT_FLOAT, None, csv="compile_ms", read="duration", empty=None,
       doc="compilation / static-cache set-up time, apart from any token"),
    _f("peak_memory_mb", _S, META, "REAL", _OPT_FLOAT, None, csv="peak_memory_mb", read="amount", empty=None,
       doc="CUDA peak allocated, or peak RSS on CPU"),
    # -- summary, written when the session ends so listing stays O(sessions), not O(tokens)
    _f("tokens", _S, SUMMARY, "INTEGER NOT NULL DEFAULT 0", int),
    _f("ttft_ms", _S, SUMMARY, "REAL", _OPT_FLOAT),
    _f("decode_p50_ms", _S, SUMMARY, "REAL", _OPT_FLOAT),
    _f("decode_p95_ms", _S, SUMMARY, "REAL", _OPT_FLOAT),
    _f("decode_p99_ms", _S, SUMMARY, "REAL", _OPT_FLOAT),
    _f("decode_mean_ms", _S, SUMMARY, "REAL", _OPT_FLOAT),
    _f("tokens_per_s", _S, SUMMARY, "REAL", _OPT_FLOAT, doc="per-sequence decode throughput: 1000 / mean decode ms"),
)

TOKEN_FIELDS: tuple[Field, ...] = (
    _f("k", _T, TOKEN, "INTEGER NOT NULL", int, csv="Token_Index_k", read="integer", minimum=1,
       doc="1-based token index; k = 1 is the first token and includes prompt processing"),
    _f("context_size", _T, TOKEN, "INTEGER NOT NULL", int, csv="Context_Size", read="integer", minimum=0,
       doc="tokens visible when predicting this token: input tokens + k - 1"),
    _f("latency_ms", _T, TOKEN, "REAL NOT NULL", float, csv="Per_Token_Latency_ms", read="duration",
       doc="forward + sampling + the host sync that yields the token id"),
    _f("phase", _T, TOKEN, "TEXT NOT NULL", str, csv="phase", read="phase", doc="prefill for k = 1, else decode"),
    _f("token_id", _T, TOKEN, "INTEGER", _OPT_INT, csv="token_id", read="integer", empty=None),
    _f("token_text", _T, TOKEN, "TEXT NOT NULL DEFAULT ''", str, csv="token_text", read="text"),
    _f("wall_time", _T, TOKEN, "REAL NOT NULL", float, csv="timestamp", read="wall_time",
       doc="Unix seconds when the token was produced (aligns tokens with system metrics); CSV: ISO 8601"),
    _f("forward_ms", _T, TOKEN, "REAL", _OPT_FLOAT, None, csv="forward_ms", read="duration", empty=None),
    _f("sample_ms", _T, TOKEN, "REAL", _OPT_FLOAT, None, csv="sample_ms", read="duration", empty=None),
    _f("gc_collections", _T, TOKEN, "INTEGER NOT NULL DEFAULT 0", int, 0, csv="gc_collections", read="integer",
       minimum=0, empty=0, doc="garbage collections that ran inside this token's timed interval"),
    _f("gc_ms", _T, TOKEN, "REAL NOT NULL DEFAULT 0", float, 0.0, csv="gc_ms", read="duration", empty=0.0),
    # schema v4 (scheduler accounting, profiler/sched_watch.py); None: not measured (remote, imported, no /proc)
    _f("cpu_wait_ms", _T, TOKEN, "REAL", _OPT_FLOAT, None, csv="cpu_wait_ms", read="duration", empty=None,
       doc="time the decoding thread waited for a CPU (run-queue wait) inside this token's timed interval"),
    _f("preemptions", _T, TOKEN, "INTEGER", _OPT_INT, None, csv="preemptions", read="integer", minimum=0,
       empty=None, doc="involuntary context switches of the decoding thread inside this token's timed interval"),
)

SEED_COLUMNS: tuple[str, ...] = (
    "Prompt_ID", "Input_Token_Length", "Context_Size", "Token_Index_k", "Per_Token_Latency_ms")
"""The seed study's five columns, first, with its exact names and meanings (shared/data/seed-llm-latency/README.md)."""
RELEASE_1_COLUMNS: tuple[str, ...] = (
    "phase", "warmup", "model", "model_label", "quant", "dtype", "device", "backend", "batch_size", "attn",
    "gpu_name", "session_status", "session_started", "repeat_index", "token_id", "token_text", "timestamp",
    "forward_ms", "sample_ms", "gc_collections", "gc_ms", "prompt")
"""Ours, as the first release wrote them: a file with all of them is our full format."""
REMOTE_COLUMNS: tuple[str, ...] = ("timing",)
"""Schema v2 (remote servers)."""
BATCH_SWEEP_COLUMNS: tuple[str, ...] = (
    "batch_index", "eos_k", "sweep_id", "cell", "config", "compile_ms", "peak_memory_mb")
"""Schema v3 (batched decoding, sweeps, configurations)."""
SCHEDULER_COLUMNS: tuple[str, ...] = ("cpu_wait_ms", "preemptions")
"""Schema v4 (per-token scheduler accounting)."""
CSV_LAYOUT: tuple[str, ...] = (SEED_COLUMNS + RELEASE_1_COLUMNS + REMOTE_COLUMNS + BATCH_SWEEP_COLUMNS
                               + SCHEDULER_COLUMNS)
"""The CSV's column order. New columns are appended, so existing readers' positions hold."""

SPEED_SETTINGS = ("cache", "compile", "compile_mode")
"""Keys of a session's `settings` that determine its speed (KV cache kind, torch.compile)."""

FINGERPRINT_FIELDS: tuple[str, ...] = tuple(f.name for f in SESSION_FIELDS if f.fingerprint)
"""Session fields that together say "same model and configuration" (with SPEED_SETTINGS)."""
CONFIG_LENGTH = 12
"""Hex digits of the fingerprint: 48 bits, no collision among any plausible number of configurations."""


def fields_where(table: str | None = None, role: str | None = None) -> tuple[Field, ...]:
    every = SESSION_FIELDS + TOKEN_FIELDS
    return tuple(f for f in every if (table is None or f.table == table) and (role is None or f.role == role))


META_FIELDS = fields_where(SESSIONS, META)
SUMMARY_FIELDS = fields_where(SESSIONS, SUMMARY)
CSV_FIELDS: tuple[Field, ...] = tuple(
    next(f for f in SESSION_FIELDS + TOKEN_FIELDS if f.csv == column) for column in CSV_LAYOUT)
"""The fields the CSV holds, in its column order."""


def backend_fields(info: Any) -> dict[str, Any]:
    """The SessionMeta fields a backend describes (model, label, dtype, device, ...), from its BackendInfo."""
    return {f.name: getattr(info, f.from_backend) for f in META_FIELDS if f.from_backend}


def config_fingerprint(meta: Any) -> str:
    """A short stable hash of what determines a session's speed.

    `meta` is a SessionMeta or a session dict (as the store lists it). The same model, quantisation,
    dtype, device, GPU, backend, batch size, attention and cache/compile settings give the same
    fingerprint in any process, on any day; any difference gives another.
    """
    get = meta.get if isinstance(meta, Mapping) else (lambda name: getattr(meta, name, None))
    settings = get("settings") or {}
    if isinstance(settings, str):
        settings = json.loads(settings or "{}")
    described = {name: get(name) for name in FINGERPRINT_FIELDS}
    described["batch_size"] = int(described["batch_size"] or 1)
    described.update({f"settings.{key}": settings[key] for key in SPEED_SETTINGS if key in settings})
    text = json.dumps(described, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:CONFIG_LENGTH]


def _check_layout() -> None:
    names = [f.csv for f in SESSION_FIELDS + TOKEN_FIELDS if f.csv]
    if sorted(names) != sorted(CSV_LAYOUT) or len(set(CSV_LAYOUT)) != len(CSV_LAYOUT):
        raise AssertionError("CSV_LAYOUT and the fields' csv names disagree")


_check_layout()
