"""The notes `compare` adds when its sides ran under different conditions (issue 17): machine noise,
and app vs headless.

A side that ran while other processes held the CPUs, or whose tokens waited for a CPU, is slower for
reasons that are not its configuration. Two signals are compared, both recorded with each session:
the machine-noise record over its run (profiler/machine_noise.py) and the decoding thread's CPU wait
per decode token (profiler/sched_watch.py).
"""

from __future__ import annotations

from statistics import mean

WAIT_DIFFERENCE_MS = 0.05
"""Mean CPU wait per decode token differing by more than this (and by 2x) counts as different noise."""


def side_noise(sessions: list[dict], tokens: dict[str, list[dict]]) -> tuple[int, int, float | None]:
    """(sessions with a noise record, of which noisy, mean CPU wait per decode token in ms or None)."""
    records = [(s.get("environment") or {}).get("machine_noise") for s in sessions]
    known = [r for r in records if r]
    waits = [t["cpu_wait_ms"] for s in sessions for t in tokens.get(s["id"], ())
             if t.get("phase") == "decode" and t.get("cpu_wait_ms") is not None]
    return len(known), sum(1 for r in known if r.get("noisy")), (mean(waits) if waits else None)


def noise_note(loaded) -> str | None:
    """One line when the sides' noise differs; None when it was alike (or not recorded)."""
    states = [(side.label, *side_noise(loaded.side_sessions(side), loaded.tokens)) for side in loaded.sides]
    flags = {noisy > 0 for _label, known, noisy, _wait in states if known}
    waits = [wait for *_rest, wait in states if wait is not None]
    waits_differ = (len(waits) > 1 and max(waits) - min(waits) > WAIT_DIFFERENCE_MS
                    and max(waits) > 2 * min(waits))
    if len(flags) <= 1 and not waits_differ:
        return None
    parts = []
    for label, known, noisy, wait in states:
        state = ("not recorded" if not known else "quiet" if not noisy
                 else f"noisy ({noisy} of {known} sessions)" if known > 1 else "noisy")
        parts.append(f"{label} {state}" + (f", CPU wait {wait:.2f} ms/token" if wait is not None else ""))
    return (f"the sides ran under different machine noise ({'; '.join(parts)}): part of a difference may be "
            "the machine, not the configuration (`tokenlat-tui show ID` says what was noisy)")


def settle_note(loaded) -> str | None:
    """One line when some sides ran in the app (each session held until the view settled:
    profiler/engine/settle.py) and others headless; None when all ran alike."""
    in_app = [side.label for side in loaded.sides
              if any((s.get("environment") or {}).get("app_settle") for s in loaded.side_sessions(side))]
    if not in_app or len(in_app) == len(loaded.sides):
        return None
    others = [side.label for side in loaded.sides if side.label not in in_app]
    return (f"{', '.join(in_app)} ran in the app (each session started after the view settled), "
            f"{', '.join(others)} without it (`show ID` says how long each waited)")
