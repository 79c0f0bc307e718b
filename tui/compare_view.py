"""How a comparison of sessions is loaded and laid out: the one definition `tokenlat-tui compare` and
the app's compare screen share (rich only, no textual), so both show the same figures and words.

The statistics are model/compare.py's; this module reads the sides from the store and builds the
table (metrics down, sides across: it fits 80 columns for two or three sides, and Rich wraps the
cells rather than cut them when there are more).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiler.errors import InputError
from profiler.printable import printable_line
from tui.session_view import timing_label

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000


@dataclass
class LoadedComparison:
    sides: list
    """model.compare.Side per group, the baseline first."""
    comparisons: list
    """model.compare.Comparison of each later side against the baseline."""
    sessions: dict[str, dict[str, Any]]
    """The store's session dicts, by id."""
    tokens: dict[str, list[dict[str, Any]]]
    """The store's token rows, by session id (the app's chart draws them)."""

    @property
    def verdicts(self) -> list[str]:
        return [c.verdict() for c in self.comparisons]

    def side_sessions(self, side) -> list[dict[str, Any]]:
        return [self.sessions[sid] for sid in side.session_ids]


def side_label(group: list[str]) -> str:
    """The one form of a side's label, whatever its size: the first session's short id, then how many
    more the side holds: 'a1b2c3d4', 'a1b2c3d4+1', 'a1b2c3d4+3'. (Two ids joined, 'a1b2c3d4+e5f6a7b8',
    beside 'a1b2c3d4+2' for three, read as two different notations.)"""
    return group[0][:8] if len(group) == 1 else f"{group[0][:8]}+{len(group) - 1}"


def models_of(sessions: list[dict[str, Any]]) -> list[str]:
    """The distinct models of the sessions, in order: more than one means their latencies aren't comparable."""
    return list(dict.fromkeys(str(s["model"]) for s in sessions))


def different_models_line(models: list[str]) -> str:
    return f"sessions are of different models ({', '.join(printable_line(m) for m in models)})"


def sides_of_marked(sessions: list[dict[str, Any]]) -> list[list[str]]:
    """Marked sessions as compare sides, the earliest started first.

    When they span several configurations, each configuration's sessions are one side (repeats: the
    interval then resamples whole sessions, run-to-run variation included); when they share one,
    each session is a side of its own (which run of the same configuration was faster)."""
    from profiler.columns import FINGERPRINT_FIELDS

    ordered = sorted(sessions, key=lambda s: (s["started"], s["id"]))
    groups: dict[tuple, list[str]] = {}
    for session in ordered:
        groups.setdefault(tuple(str(session.get(f)) for f in FINGERPRINT_FIELDS), []).append(session["id"])
    if len(groups) > 1:
        return list(groups.values())
    return [[session["id"]] for session in ordered]


def load_comparison(store, groups: list[list[str]], *, allow_models: bool = False,
                    confidence: float = DEFAULT_CONFIDENCE, resamples: int = DEFAULT_RESAMPLES) -> LoadedComparison:
    """Each group (one session, or repeats of one configuration) against the first; InputError for
    fewer than two groups, a group without decode tokens, or (unless `allow_models`) mixed models."""
    from model.compare import compare, make_side  # deferred: numpy

    if len(groups) < 2:
        raise InputError("compare needs at least two sessions (or groups of repeats)")
    sessions = {sid: store.get_session(sid) for group in groups for sid in group}
    models = models_of(list(sessions.values()))
    if len(models) > 1 and not allow_models:
        raise InputError(different_models_line(models))
    tokens = {sid: store.session_tokens(sid) for sid in sessions}
    sides = [make_side(side_label(group), [(sid, tokens[sid]) for sid in group]) for group in groups]
    for side in sides:
        if not any(len(d) for d in side.decode_ms):
            raise InputError(f"session {side.label} has no decode tokens to compare")
    comparisons = [compare(sides[0], other, confidence=confidence, resamples=resamples) for other in sides[1:]]
    return LoadedComparison(sides, comparisons, sessions, tokens)


def comparison_tables(loaded: LoadedComparison, width: int) -> list:
    """One table of every side when it fits `width` columns without wrapping; else one table per
    side against the baseline (each ~55 columns), so no id or interval is ever cut."""
    from rich.console import Console

    whole = comparison_table(loaded)
    # measured on a console wider than any table: a narrower one clamps the measurement to its width
    if len(loaded.comparisons) == 1 or Console(width=10_000).measure(whole).maximum <= width:
        return [whole]
    return [comparison_table(loaded, [c]) for c in loaded.comparisons]


def comparison_table(loaded: LoadedComparison, comparisons: list | None = None):
    """Metrics down, sides across; each later side (default: all) with its change against the
    baseline and interval."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from model.compare import METRIC_NAMES, METRICS, side_figures

    comparisons = loaded.comparisons if comparisons is None else comparisons
    sides = [loaded.sides[0]] + [c.other for c in comparisons]
    base = sides[0]
    confidence = comparisons[0].confidence
    table = Table(title=f"change vs {base.label} (baseline) [{confidence:.0%} interval, %]",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column(base.label, justify="right")
    for c in comparisons:
        table.add_column(c.other.label, justify="right")
        table.add_column("change", justify="right")
    configs = [config_line(loaded.sessions[side.session_ids[0]]) for side in sides]
    if len(set(configs)) > 1:
        # Text cells: a str is read as markup, and '[bold]' in a model name would restyle the table
        table.add_row("config", Text(configs[0]), *[cell for config in configs[1:] for cell in (Text(config), "")])
    table.add_row("runs", str(len(base.session_ids)),
                  *[cell for c in comparisons for cell in (str(len(c.other.session_ids)), "")])
    table.add_row("tokens", str(base.tokens), *[cell for c in comparisons for cell in (str(c.other.tokens), "")])
    base_figures = side_figures(base)
    other_figures = [side_figures(c.other) for c in comparisons]
    for metric in METRICS:
        unit = "" if metric == "tokens_per_s" else " ms"
        table.add_row(METRIC_NAMES[metric] + unit, number(base_figures[metric]),
                      *[cell for c, figures in zip(comparisons, other_figures)
                        for cell in (number(figures[metric]), change(c.differences[metric]))])
    return table


def notes(loaded: LoadedComparison) -> list[str]:
    """What the table can't say in a cell: the shared configuration, how intervals were made, and
    which sides were timed by a client (remote sessions)."""
    lines = []
    configs = {config_line(s) for s in loaded.sessions.values()}
    if len(configs) == 1:
        lines.append(f"all sessions: {configs.pop()}")
    methods = dict.fromkeys(c.method for c in loaded.comparisons)
    lines.append(f"intervals: {', '.join(methods)} ({loaded.comparisons[0].resamples} resamples); "
                 "decode percentiles pooled over each side's runs, TTFT the median")
    for side in loaded.sides:
        labels = dict.fromkeys(timing_label(s) for s in loaded.side_sessions(side))
        shown = [label for label in labels if label]
        if shown:
            lines.append(f"{side.label}: {', '.join(shown)}")
    contexts = context_note(loaded)
    if contexts:
        lines.append(contexts)
    from tui.compare_noise import noise_note, settle_note  # conditions that differ by side (issue 17)

    lines += [note for note in (noise_note(loaded), settle_note(loaded)) if note]
    return lines


def context_note(loaded: LoadedComparison) -> str | None:
    """A warning when the sides decoded at different contexts (other prompts or lengths): per-token
    latency grows with context, so part of the difference may be the context, not the configuration."""
    spans = []
    for side in loaded.sides:
        contexts = [t["context_size"] for sid in side.session_ids for t in loaded.tokens.get(sid, ())
                    if t.get("phase") == "decode"]
        if contexts:
            spans.append((side.label, min(contexts), max(contexts)))
    if len({(low, high) for _label, low, high in spans}) <= 1:
        return None
    ranges = ", ".join(f"{label} {low}–{high}" for label, low, high in spans)
    return (f"decode contexts differ ({ranges} tokens): latency grows with context, so part of a "
            "difference may be the context, not the configuration")


def change(diff) -> str:
    if diff.relative is None:
        return "–"
    if diff.ci_low is None:
        return f"{diff.relative:+.1%}"
    return f"{diff.relative:+.1%} [{diff.ci_low * 100:+.1f}, {diff.ci_high * 100:+.1f}]"


def config_line(session: dict[str, Any]) -> str:
    """Model, dtype and quant: outside text (an imported CSV), shown with its control characters made visible."""
    return printable_line(" · ".join(str(v) for v in (session["model"], session["dtype"], session["quant"]) if v))


def number(value) -> str:
    return "–" if value is None else f"{value:.2f}"
