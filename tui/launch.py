"""`tokenlat-tui` with no subcommand: open the store, start the app, end cleanly on SIGHUP/SIGTERM."""

from __future__ import annotations

import signal


def run_app(args) -> int:
    from tui.app import make_app
    from tui.commands.common import backend_options, open_store

    store = open_store(args)  # a bad store is one clear error before the screen takes over
    app = make_app(store=store, backend_options=backend_options(args))
    previous = {}
    for name in ("SIGHUP", "SIGTERM"):
        sig = getattr(signal, name, None)
        if sig is not None:
            # a dropped SSH link sends SIGHUP: cancel, flush the session as interrupted, exit
            previous[sig] = signal.signal(sig, lambda _signum, _frame: app.interrupt_from_signal())
    try:
        app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return app.return_code or 0
