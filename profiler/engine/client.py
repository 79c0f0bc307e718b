"""The one client API of the engine: start, load, encode, run, stop, detach, terminate; events by callback.

`EngineClient` runs the engine as a process (`python -m profiler.engine`) — what the app uses.
`InProcessEngine` runs the same `Engine` in this process with a backend passed in (a
ScriptedBackend on a ManualClock), so pilot and snapshot tests stay deterministic and fast.
Both call `on_event(event_dict)` from a thread of their own; a callback must not block.

After the engine process ends, one more event arrives: {"type": "exited", "code", "expected"};
`expected` is False when it died on its own (a crash, SIGKILL) rather than because we detached,
stopped or terminated it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from profiler.engine.protocol import DETACH_FINISH, DETACH_STOP, decode, encode, settings_to_dict

EventCallback = Callable[[dict[str, Any]], None]

_spawner: ThreadPoolExecutor | None = None


def prepare_spawner() -> None:
    """Start the thread that launches engines, BEFORE the caller lowers its own priority.

    On Linux a nice value belongs to a thread and a child inherits it from the thread that forked
    it. The app lowers its UI thread's priority so it yields the CPU to the engine; launching the
    engine from this thread (created first, at normal priority) keeps the engine at normal priority,
    including an engine restarted later (after a crash or a cancelled load).
    """
    global _spawner
    if _spawner is None:
        _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine-spawner")
        _spawner.submit(lambda: None).result()  # the thread exists now, at the current priority


def _popen(*args, **kwargs) -> subprocess.Popen:
    if _spawner is None:
        return subprocess.Popen(*args, **kwargs)
    return _spawner.submit(subprocess.Popen, *args, **kwargs).result()


def engine_log_path(data_dir: str | os.PathLike | None) -> Path:
    from profiler.store.location import resolve_data_dir

    return resolve_data_dir(data_dir) / "engine.log"


class EngineClient:
    """An engine process, started in its own session so a terminal hang-up doesn't reach it."""

    def __init__(self, on_event: EventCallback, *, data_dir: str | os.PathLike | None = None,
                 on_detach: str = DETACH_FINISH) -> None:
        self.on_event = on_event
        self.data_dir = data_dir
        self.on_detach = on_detach
        self.process: subprocess.Popen | None = None
        self._leaving = False
        """We detached or terminated it: its exit is expected, not a crash."""
        self._write_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        command = [sys.executable, "-m", "profiler.engine", "--on-detach", self.on_detach]
        if self.data_dir is not None:
            command += ["--data-dir", str(self.data_dir)]
        log_path = engine_log_path(self.data_dir)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # the engine's stderr goes to a log, not the terminal: after a hang-up a write to the dead
        # terminal fails (EIO), and a library warning must not be what ends a run
        with open(log_path, "ab") as log:
            self.process = _popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                  start_new_session=True, cwd=os.getcwd(), env=_engine_env())
        self._leaving = False
        threading.Thread(target=self._read_events, args=(self.process,), name="engine-client", daemon=True).start()

    def _read_events(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            try:
                event = decode(line)
            except ValueError:
                continue
            self.on_event(event)
        code = process.wait()  # reaped before anyone looks: a zombie would still count as alive
        self.on_event({"type": "exited", "code": code, "expected": self._leaving})

    def _send(self, message: dict[str, Any]) -> None:
        process = self.process
        if process is None or process.stdin is None or process.stdin.closed:
            return
        try:
            with self._write_lock:
                process.stdin.write(encode(message))
                process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the engine is gone: the reader thread reports how it ended

    # -- the API
    def load(self, options) -> None:
        self._send({"type": "load", "options": asdict(options)})

    def encode(self, text: str, request: Any = None) -> None:
        self._send({"type": "encode", "text": text, "request": request})

    def run(self, prompt: str, settings, settle: dict | None = None, breakdown: str | None = None) -> None:
        """`settle` ({ack_timeout_s, gap_ms}): each session waits for `ack(session_id)` (engine/settle.py);
        `breakdown` ('classes' or 'layers'): a profiled pass after the timed sessions."""
        self._send({"type": "run", "prompt": prompt, "settings": settings_to_dict(settings), "settle": settle,
                    "breakdown": breakdown})

    def ack(self, session_id: str) -> None:
        """The view has drawn the start of `session_id`."""
        self._send({"type": "ack", "session_id": session_id})

    def run_remote(self, prompt: str, settings, remote, breakdown: str | None = None) -> None:
        """Run against a server (`RemoteOptions`); the API key is read by the engine from its environment."""
        self._send({"type": "run_remote", "prompt": prompt, "settings": settings_to_dict(settings),
                    "remote": asdict(remote), "breakdown": breakdown})

    def stop(self) -> None:
        self._send({"type": "stop"})

    def detach(self, policy: str | None = None) -> None:
        """Leave: the engine finishes or stops its current run (by `policy`), stores it, and exits."""
        self._leaving = True
        self._send({"type": "detach", "policy": policy or self.on_detach})
        process = self.process
        if process is not None and process.stdin is not None:
            try:
                process.stdin.close()
            except OSError:
                pass

    def terminate(self) -> None:
        """End the engine now (cancelling a model load): SIGTERM stores any running session interrupted."""
        self._leaving = True
        if self.alive:
            self.process.terminate()

    def owns(self, pid: int | None) -> bool:
        return pid is not None and pid == self.pid


def _engine_env() -> dict[str, str]:
    env = dict(os.environ)
    # the engine imports this checkout's packages even when the app was started by path
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return env


class InProcessEngine:
    """The same engine in this process, with a backend passed in (tests, screenshots, demos)."""

    def __init__(self, on_event: EventCallback, *, backend, store, clock=None) -> None:
        from profiler.engine.core import Engine
        from profiler.engine.events import EventStream

        self.on_event = on_event
        self._events = EventStream(lambda event: self.on_event(event))
        self.engine = Engine(store, self._events, backend=backend, clock=clock)
        self.alive = True

    @property
    def pid(self) -> int:
        return os.getpid()

    def start(self) -> None:
        self._events.emit({"type": "hello", "pid": self.pid})

    def load(self, options) -> None:
        self.engine.load(asdict(options) if options is not None else {})

    def encode(self, text: str, request: Any = None) -> None:
        self.engine.encode(text, request)

    def run(self, prompt: str, settings, settle: dict | None = None, breakdown: str | None = None) -> None:
        self.engine.run(prompt, settings_to_dict(settings), settle, breakdown)

    def ack(self, session_id: str) -> None:
        self.engine.acknowledge(session_id)

    def run_remote(self, prompt: str, settings, remote, breakdown: str | None = None) -> None:
        self.engine.run_remote(prompt, settings_to_dict(settings), asdict(remote), breakdown)

    def stop(self) -> None:
        self.engine.stop()

    def detach(self, policy: str | None = None) -> None:
        # in one process nothing outlives the app: leaving always stops the run
        self.engine.detach(DETACH_STOP)

    def terminate(self) -> None:
        self.engine.detach(DETACH_STOP)

    def owns(self, pid: int | None) -> bool:
        return pid == self.pid
