"""The app's check of the machine's noise at start (issue 17): in a worker thread, shown in the model bar.

The same check as `tokenlat-tui doctor` (profiler/machine_noise.py), sampled over half a second in a
thread so the first frame never waits for it. The app's own processes — this one and its engine,
which is loading the model meanwhile — are the measurement, not noise, and are left out.
"""

from __future__ import annotations

from typing import Any, Callable


def noise_flag(findings: list) -> str | None:
    """The model bar's short flag: which findings were noisy, or None on a quiet machine."""
    noisy = [f.key.replace("_", " ") for f in findings if f.noisy]
    if not noisy:
        return None
    return f"noisy machine: {', '.join(noisy)} (tokenlat-tui doctor)"


def check_in_background(screen: Any, show: Callable[[str | None], None],
                        engine_pid: Callable[[], int | None]) -> None:
    """Run the check in a thread; `show(flag)` is called on the UI thread with noise_flag's line or None.

    `engine_pid()` names the engine's process (this process is always left out). Never raises into
    Textual's worker machinery: a machine the check can't read is simply not flagged.
    """

    def check() -> None:
        from profiler.machine_noise import check_machine

        try:
            pid = engine_pid()
            flag = noise_flag(check_machine(exclude={pid} if pid else set()))
        except Exception:  # noqa: BLE001 - no psutil, no /proc: nothing to flag, and nothing to break
            return
        screen.app.call_from_thread(show, flag)

    screen.run_worker(check, thread=True, group="machine-noise", exit_on_error=False)
