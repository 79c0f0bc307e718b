"""The collection engine: the process that owns the model and the timed loop.

The app is only a view of it. The engine loads a backend once, runs collections on request with
the ordinary `Collector` (so it writes the store itself, exactly as `collect` does), and streams
what happens back as events. Running it in its own process means the UI's garbage collector,
GIL and rendering never share an interpreter with the timed loop, and, started in its own session
(setsid), it outlives a terminal that hangs up.

- `protocol.py`: the commands and events, as JSON lines.
- `core.py`: the engine itself, transport-free (used by the process and by tests in a thread).
- `events.py`: the event writer thread that keeps the timed loop from ever waiting on a reader.
- `__main__.py`: `python -m profiler.engine`, the process.
- `client.py`: the one client API (`EngineClient` for the process, `InProcessEngine` for tests).
- `follow.py`: following a `running` session through the store (attach, `watch`).
- `remote_run.py`: a server's run (`run_remote`: the same RemoteRun as `collect --server`), its events.
"""
