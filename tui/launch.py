"""`tokenlat-tui` with no subcommand: open the store, start the app, leave promptly on any signal.

Signals, and what becomes of a run (the engine is in its own session, so only we can tell it):
- SIGHUP (the terminal went away, a dropped SSH link): the app exits at once; the engine goes on
  and stores the run `finished` — or `interrupted` with TOKENLAT_ON_HANGUP=stop.
- SIGTERM / SIGINT: the app exits at once and the engine stops the run (`interrupted`) and exits:
  nothing is left behind.
After a hang-up the app ends at once (there is no terminal left to restore). After SIGTERM/SIGINT it
exits through Textual (restoring the terminal), and a watchdog thread ends the process after
EXIT_DEADLINE_S if the event loop can't.
"""

from __future__ import annotations

import os
import signal
import threading

from profiler.engine.protocol import DETACH_FINISH, DETACH_POLICIES, DETACH_STOP
from profiler.errors import InputError

ON_HANGUP_ENV = "TOKENLAT_ON_HANGUP"
EXIT_DEADLINE_S = 1.5
UI_NICENESS = 5
"""The UI lowers its own priority by this much so that, on a machine with few cores, the kernel
gives the engine's decoding threads the CPU first; the engine is started from a thread created
before this (see profiler.engine.client.prepare_spawner), so it keeps the normal priority."""


def on_hangup_setting(flag: str | None = None) -> str:
    """--on-hangup, else $TOKENLAT_ON_HANGUP, else finish."""
    policy = (flag or os.environ.get(ON_HANGUP_ENV, DETACH_FINISH)).strip().lower()
    if policy not in DETACH_POLICIES:
        raise InputError(f"{ON_HANGUP_ENV} must be one of {', '.join(DETACH_POLICIES)}, not {policy!r}")
    return policy


def lower_ui_priority() -> None:
    try:
        os.nice(UI_NICENESS)
    except OSError:
        pass  # not allowed here: the app still works, it just doesn't yield as much


def run_app(args) -> int:
    from profiler.engine.client import prepare_spawner
    from tui.app import make_app
    from tui.commands.common import backend_options, open_store

    on_hangup = on_hangup_setting(getattr(args, "on_hangup", None))
    store = open_store(args)  # a bad store is one clear error before the screen takes over
    options = backend_options(args)
    if getattr(options, "batch", None) is not None or getattr(options, "cache", "dynamic") != "dynamic":
        from profiler.errors import InputError

        raise InputError("--batch, --cache and --compile are for `tokenlat-tui collect`; "
                         "the app decodes one sequence at a time")
    app = make_app(store=store, backend_options=options, on_hangup=on_hangup)
    prepare_spawner()
    app.after_first_frame = lower_ui_priority
    received: list[int] = []

    def leave_now(signum: int) -> None:
        policy = on_hangup if signum == getattr(signal, "SIGHUP", None) else DETACH_STOP
        if app.controller is not None:  # None: no screen yet, so no engine either
            app.controller.leave(policy)
        app.exit(return_code=128 + signum)

    def on_signal(signum: int, _frame) -> None:
        if received:
            return
        received.append(signum)
        if signum == getattr(signal, "SIGHUP", None):
            # the terminal is gone: there is nothing to restore on it and nothing unsaved in this
            # process (the engine writes the store), so don't wait for Textual to wind down
            threading.Thread(target=_leave_and_exit, args=(app, signum, on_hangup, 0.0), daemon=True).start()
            return
        # the handler runs between two bytecodes of the event loop's thread: hand the work to the
        # loop rather than write to the engine's pipe from here (the loop might be mid-write)
        loop = app.event_loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(leave_now, signum)
        threading.Thread(target=_leave_and_exit, args=(app, signum, on_hangup, EXIT_DEADLINE_S), name="exit-watchdog",
                         daemon=True).start()

    previous = {}
    for name in ("SIGHUP", "SIGTERM", "SIGINT"):
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, on_signal)
    try:
        app.run()
    finally:
        if app.controller is not None:
            app.controller.leave(DETACH_STOP)  # a no-op when the app already left by choice
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        return 128 + received[0]
    return app.return_code or 0


def _leave_and_exit(app, signum: int, on_hangup: str, after_s: float) -> None:
    """If the app hasn't exited after `after_s`, tell the engine (from this thread: the loop's thread
    may be the one stuck) and end the process."""
    threading.Event().wait(after_s)
    policy = on_hangup if signum == getattr(signal, "SIGHUP", None) else DETACH_STOP
    try:
        if app.controller is not None:
            app.controller.leave(policy)
    except Exception:  # noqa: BLE001 - nothing may stop the exit now
        pass
    os._exit(128 + signum)
