"""How a session is presented: the `sessions --json` item, and the sessions table's columns (one definition
for the app's table and `tokenlat-tui sessions`: which columns, in what order, which go first when narrow)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text

from profiler.printable import printable_line


@dataclass(frozen=True)
class SessionColumn:
    """One column of the sessions table, for the app and `tokenlat-tui sessions` alike."""

    key: str
    """The value's key in `display_fields(session)`."""
    title: str
    priority: int
    """Lower is kept longer: when the width is short, the highest numbers go first."""
    fmt: str | None = None
    """Number format. A figure is never shortened: its column is shown whole or not at all."""
    min_width: int = 0
    """Above 0: free text (model, prompt), shortened with '…' down to this width, at most `max_width`."""
    max_width: int = 0
    extra: bool = False
    """Not one of the table's essentials: shown only where there is room left (or with `--wide`)."""
    marker: str = ""
    """A one-character form shown (blank title) when the full text has no room: `marker` where the
    cell has text. Its legend, `marker meaning`, is shown with the table."""
    meaning: str = ""
    optional: bool = False
    """Left out while no row has a value (the remote-timing column in a table of local sessions)."""

    @property
    def is_text(self) -> bool:
        return self.min_width > 0


ARRIVAL_LABEL = "client arrival timing"
"""What every view says beside a remote session's latencies: gaps between streamed chunks as the
client saw them (network and server queueing included), not device time."""


STATUS_ICONS = {"finished": "✓", "running": "●", "interrupted": "◐", "failed": "✗"}

# In order of appearance. Priorities (0 = kept longest) give the order in which a short width drops
# columns: prompt, then model, tokens, status, the markers, then the figures; the id always stays.
SESSION_COLUMNS = [
    SessionColumn("short_id", "id", 0),
    SessionColumn("status_display", "status", 8),
    SessionColumn("warmup_display", "warm-up", 6, marker="w", meaning="warm-up (left out of statistics)",
                  optional=True),
    SessionColumn("timing_display", "timing", 7, marker="*", meaning=ARRIVAL_LABEL, optional=True),
    SessionColumn("started_short", "started", 20, extra=True),
    SessionColumn("model_short", "model", 10, min_width=8, max_width=24),
    SessionColumn("prompt_excerpt", "prompt", 11, min_width=10, max_width=40),
    SessionColumn("quant", "quant", 21, extra=True),
    SessionColumn("dtype", "dtype", 22, extra=True),
    SessionColumn("device", "device", 23, extra=True),
    SessionColumn("input_tokens", "in", 24, "d", extra=True),
    SessionColumn("tokens", "tokens", 9, "d"),
    SessionColumn("ttft_ms", "TTFT ms", 3, ".2f"),
    SessionColumn("decode_p50_ms", "p50 ms", 1, ".2f"),
    SessionColumn("decode_p95_ms", "p95 ms", 4, ".2f"),
    SessionColumn("decode_p99_ms", "p99 ms", 2, ".2f"),
    SessionColumn("tokens_per_s", "tok/s", 5, ".1f"),
]

MISSING = "–"


def cell_text(column: SessionColumn, session: dict[str, Any]) -> str:
    """The column's full text for one session (`display_fields` applied).

    Text comes from outside (an imported CSV's model or prompt can hold escape sequences): shown
    with every control character made visible, on one line, for the app's table and the CLI's alike.
    """
    value = session.get(column.key)
    if value is None:
        return MISSING if column.fmt else ""
    if column.fmt:
        return format(value, column.fmt)
    return printable_line(str(value))


def dropped_at_narrow_widths() -> list[str]:
    """The essentials' titles in the order a short width leaves them out (for the help screen)."""
    essentials = [c for c in SESSION_COLUMNS if not c.extra and c.priority > 0]
    return [c.title for c in sorted(essentials, key=lambda c: -c.priority)]


@dataclass(frozen=True)
class FittedColumn:
    column: SessionColumn
    width: int
    short: bool = False
    """The column shows its one-character form (`column.marker`)."""


def widest_cells(sessions: list[dict[str, Any]]) -> dict[str, int]:
    """Each column's widest cell (0: every cell empty). Measured once per listing: a store can hold
    10k sessions, and the app re-fits on every resize."""
    return {c.key: max((cell_len(cell_text(c, s)) for s in sessions), default=0) for c in SESSION_COLUMNS}


def fit_columns(sessions: list[dict[str, Any]], available: int, gap: int, *, wide: bool = False,
                title_extra: dict[str, int] | None = None, widest: dict[str, int] | None = None) -> list[FittedColumn]:
    """Which columns, how wide, to fill `available` cells without a horizontal scroll.

    `sessions` have `display_fields` applied; `gap` is what each column costs beside its text
    (padding, rule); `title_extra` adds cells to some titles (the sort arrow). Essentials are added
    by priority at their smallest (text at `min_width`, a marker at one character) while they fit;
    then text columns share the room up to `max_width`, and markers take their full text where it
    still fits; then extras join where room is left; what is still left widens the text columns. `wide`: every column, each at its full width (the caller lets the line run past the screen).
    """
    title_extra = title_extra or {}
    widest = widest or widest_cells(sessions)

    def natural(column: SessionColumn) -> int:
        return max(widest[column.key], len(column.title) + title_extra.get(column.key, 0))

    present = [c for c in SESSION_COLUMNS if not c.optional or widest[c.key] > 0]
    if wide:
        return [FittedColumn(c, natural(c)) for c in present]

    def smallest(column: SessionColumn) -> int:
        if column.is_text:
            return min(natural(column), max(column.min_width, len(column.title) + title_extra.get(column.key, 0)))
        return 1 if column.marker else natural(column)

    def fullest(column: SessionColumn) -> int:
        return min(natural(column), column.max_width) if column.is_text else natural(column)

    widths: dict[str, int] = {}
    used = 0
    for column in sorted((c for c in present if not c.extra), key=lambda c: c.priority):
        need = smallest(column) + gap
        if used + need > available:
            break
        widths[column.key] = smallest(column)
        used += need
    # model and prompt read better than a marker spelt out (its legend is on show): they grow first
    used = _share(widths, {c.key: fullest(c) for c in present if c.is_text and c.key in widths}, available - used, used)
    for column in sorted((c for c in present if c.key in widths and not c.is_text), key=lambda c: c.priority):
        if fullest(column) - widths[column.key] <= available - used:  # a marker: whole or one character
            used += fullest(column) - widths[column.key]
            widths[column.key] = fullest(column)
    # extras only once every essential is on show: `in` beside a dropped `tokens` would read as a mistake
    all_essentials = all(c.key in widths for c in present if not c.extra)
    for column in sorted((c for c in present if c.extra and all_essentials), key=lambda c: c.priority):
        need = natural(column) + gap
        if used + need <= available:
            widths[column.key] = natural(column)
            used += need
    # room left over: text columns grow past their usual widths, so less of them is cut
    _share(widths, {c.key: natural(c) for c in present if c.is_text and c.key in widths}, available - used, used)
    return [FittedColumn(c, widths[c.key], short=bool(c.marker) and widths[c.key] < natural(c))
            for c in present if c.key in widths]


def _share(widths: dict[str, int], caps: dict[str, int], room: int, used: int) -> int:
    """Grow the text columns in `caps` a cell at a time, in turn (so no one column takes all the room),
    up to their caps or until `room` is spent; returns `used` plus what was spent."""
    growing = [key for key in caps if widths[key] < caps[key]]
    while room > 0 and growing:
        for key in list(growing):
            if room == 0:
                break
            widths[key] += 1
            room -= 1
            used += 1
            if widths[key] >= caps[key]:
                growing.remove(key)
    return used


def fitted_cell(fitted: FittedColumn, session: dict[str, Any]) -> str:
    """The cell's text at its fitted width: text columns end in '…' when cut, markers go short."""
    text = cell_text(fitted.column, session)
    if fitted.short:
        return fitted.column.marker if text else ""
    if fitted.column.is_text and cell_len(text) > fitted.width:
        shortened = Text(text)
        shortened.truncate(fitted.width, overflow="ellipsis")
        return shortened.plain
    return text


TOKENS_PER_S_DEFINITION = "1000 / mean decode ms, TTFT excluded"
TOKENS_PER_S_MEANING = f"tok/s = {TOKENS_PER_S_DEFINITION}"
"""What every tok/s figure of a session is (profiler/session_fields.py `tokens_per_s`): said wherever one
shows (the sessions table's legend, `show`, the live panel), as AIPerf and vLLM say what theirs is."""


def legend(columns: list[FittedColumn], sessions: list[dict[str, Any]]) -> str:
    """What the one-character markers on show stand for, then what tok/s is when its column shows
    ('' when neither is)."""
    parts = [f"{f.column.marker} {f.column.meaning or f.column.title}" for f in columns
             if f.short and any(cell_text(f.column, s) for s in sessions)]
    if any(f.column.key == "tokens_per_s" for f in columns):
        parts.append(TOKENS_PER_S_MEANING)
    return " · ".join(parts)


def timing_label(session: dict[str, Any]) -> str:
    """'client arrival timing' for a remote (arrival-timed) session, '' for device-timed ones.

    The one definition every latency view uses (table, live panel, detail, compare, CLI)."""
    return ARRIVAL_LABEL if session.get("timing") == "arrival" else ""


def timing_description(session: dict[str, Any]) -> str:
    """`show`'s timing line: the label and how per-token latencies follow from it."""
    if timing_label(session):
        return f"{ARRIVAL_LABEL} (per-token latencies derived from chunk gaps)"
    return "device (timed around each decode step)"


def efficiency_or_none(session: dict[str, Any]):
    """The session's measured-vs-floor `Efficiency`, or None when GPU or model is unknown.

    Deferred import: `sessions` and `show` only need model/ when they print this.
    """
    from model.efficiency import session_efficiency

    try:
        return session_efficiency(session)
    except Exception:  # noqa: BLE001 - an estimate we can't make is 'unknown', never a failed listing
        return None


def bandwidth_fraction(session: dict[str, Any]) -> float | None:
    """Achieved memory-bandwidth fraction when GPU and model are known (issue 5), else None."""
    efficiency = efficiency_or_none(session)
    return efficiency.fraction if efficiency is not None else None


def session_summary_row(session: dict[str, Any]) -> dict[str, Any]:
    """The JSON item of `sessions --json` / `collect --json`."""
    warmup = bool(session.get("warmup"))
    recorded = session.get("tokens") or 0
    return {
        "id": session["id"],
        "status": session["status"],
        "started": session["started"],
        "ended": session.get("ended"),
        "model": session.get("model", ""),
        "model_label": session.get("model_label", ""),
        "quant": session.get("quant", ""),
        "dtype": session.get("dtype", ""),
        "device": session.get("device", ""),
        "backend": session.get("backend", ""),
        "gpu_name": session.get("gpu_name", ""),
        "input_tokens": session.get("input_tokens"),
        # `tokens` is what the table's tokens column shows: every token generated, warm-up or not;
        # warm-up tokens are left out of statistics, which `measured_tokens` says
        "tokens": recorded,
        "measured_tokens": 0 if warmup else recorded,
        "warmup": warmup,
        "repeat_index": session.get("repeat_index", 0),
        "ttft_ms": session.get("ttft_ms"),
        "decode_p50_ms": session.get("decode_p50_ms"),
        "decode_p95_ms": session.get("decode_p95_ms"),
        "decode_p99_ms": session.get("decode_p99_ms"),
        "decode_mean_ms": session.get("decode_mean_ms"),
        "tokens_per_s": session.get("tokens_per_s"),
        "bandwidth_fraction": bandwidth_fraction(session),
        "prompt": session.get("prompt", ""),
        "error": session.get("error"),
        # how it was timed and what it belongs to (schema v3): a script tells remote, batched and
        # swept sessions apart without a second query
        "timing": session.get("timing") or "device",
        "source": session.get("source", ""),
        "run_id": session.get("run_id"),
        "batch_size": session.get("batch_size", 1),
        "batch_index": session.get("batch_index", 0),
        "eos_k": session.get("eos_k"),
        "sweep_id": session.get("sweep_id"),
        "cell": session.get("cell"),
        "config": session.get("config", ""),
    }


def display_fields(session: dict[str, Any]) -> dict[str, Any]:
    """The session with the keys the sessions table shows (short id and time, model with its label...)."""
    label = session.get("model_label")
    # a hub id or a folder: its last part names the model; the organisation or path adds width, not meaning
    model = str(session.get("model") or "").rstrip("/").rsplit("/", 1)[-1]
    status = session.get("status") or ""
    return {
        **session,
        "short_id": session["id"][:8],
        "status_display": f"{STATUS_ICONS[status]} {status}" if status in STATUS_ICONS else status,
        "timing_display": timing_label(session),
        "started_short": (session.get("started") or "")[:19].replace("T", " "),
        "model_short": model + (f" [{label}]" if label else ""),
        "prompt_excerpt": " ".join(str(session.get("prompt") or "").split()),
        "warmup_display": "yes" if session.get("warmup") else "",
    }


def run_session_ids(store, session: dict[str, Any]) -> list[str]:
    """The ids of the sessions of this session's run (a remote run's streams, a batch's sequences),
    or of this session alone when it had no run: what its trace file and profiled pass are looked up by."""
    from profiler.store.chunks import run_sessions

    ids = run_sessions(store._connection(), session["run_id"]) if session.get("run_id") else []
    return ids or [session["id"]]
