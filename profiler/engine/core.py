"""The engine, transport-free: commands in (method calls), events out (an EventStream).

The same class runs inside `python -m profiler.engine` (the real app's engine) and in a thread of a
test process with a ScriptedBackend passed in (`InProcessEngine`), so pilot tests exercise the very
code the process runs. It loads one backend and keeps it across runs; each run is one `Collector`
on a thread of its own, writing the store exactly as `tokenlat-tui collect` does.
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Any, Callable

from profiler.collect import Collector, RunObserver, SessionOutcome, check_prompts
from profiler.engine.events import EventStream
from profiler.engine.protocol import DETACH_POLICIES, DETACH_STOP, settings_from_dict
from profiler.engine.settle import Settle
from profiler.breakdown.after_runs import BREAKDOWNS, check_profilable
from profiler.errors import InputError, ProfilerError, first_line
from profiler.records import SessionMeta


class _StreamObserver(RunObserver):
    """The collector's hooks, turned into events. `token` is the hot one: a single append."""

    def __init__(self, events: EventStream, max_new_tokens: int, settle: Settle | None = None) -> None:
        self.events = events
        self.max_new_tokens = max_new_tokens
        self._settle = settle
        self.token = lambda _session_id, record, append=events.token: append(record)  # no extra frame per token

    def session_started(self, session_id: str, meta: SessionMeta) -> None:
        self.events.emit({"type": "session_started", "session_id": session_id, "input_tokens": meta.input_tokens,
                          "warmup": meta.warmup, "max_new_tokens": self.max_new_tokens})

    def settle(self, session_id: str) -> dict | None:
        return self._settle.wait(session_id) if self._settle is not None else None

    def session_ended(self, outcome: SessionOutcome) -> None:
        self.events.emit({"type": "session_ended", "session_id": outcome.session_id, "status": outcome.status,
                          "error": outcome.error, "warmup": outcome.warmup, "tokens": outcome.tokens})


class Engine:
    def __init__(self, store, events: EventStream, *, backend=None, clock=None) -> None:
        self.store = store
        self.events = events
        self.backend = backend
        """Loaded once and kept across runs."""
        self.clock = clock
        """The decode loop's clock: a scripted backend's ManualClock makes test runs exactly repeatable."""
        self.cancel = threading.Event()
        """The current run's cancel switch (a fresh one per run)."""
        self._run_thread: threading.Thread | None = None
        self._load_thread: threading.Thread | None = None
        self.settle: Settle | None = None
        """The current run's wait for the view before each session (None: headless, no view)."""
        self.detach_policy: str | None = None
        """Set once the client has gone: what happens to the current run (see protocol.DETACH_*)."""
        self.done = threading.Event()
        """The client has gone and nothing is left to save: the process may exit."""

    @property
    def running(self) -> bool:
        return self._run_thread is not None and self._run_thread.is_alive()

    # -- commands
    def handle(self, command: dict[str, Any]) -> None:
        kind = command.get("type")
        try:
            if kind == "load":
                self.load(command.get("options") or {})
            elif kind == "encode":
                self.encode(command.get("text", ""), command.get("request"))
            elif kind == "run":
                self.run(command["prompt"], command.get("settings") or {}, command.get("settle"),
                         command.get("breakdown"))
            elif kind == "ack":
                self.acknowledge(command["session_id"])
            elif kind == "run_remote":
                self.run_remote(command["prompt"], command.get("settings") or {}, command["remote"],
                                command.get("breakdown"))
            elif kind == "stop":
                self.stop()
            elif kind == "detach":
                self.detach(command.get("policy", DETACH_STOP))
            else:
                self.events.emit({"type": "error", "error": f"unknown command {kind!r}"})
        except (KeyError, TypeError, ValueError) as exc:
            self.events.emit({"type": "error", "error": f"bad {kind!r} command: {first_line(exc)}"})

    def load(self, options: dict[str, Any]) -> None:
        if self.backend is not None:
            self._announce_loaded()
            return
        if self._load_thread is not None:
            return  # already loading: its `loaded`/`load_failed` answers this request too
        self._load_thread = threading.Thread(target=self._load, args=(options,), name="engine-load", daemon=True)
        self._load_thread.start()

    def _load(self, options: dict[str, Any]) -> None:
        from profiler.backends.options import BackendOptions, load_backend

        def progress(what: str, fraction: float) -> None:
            self.events.emit({"type": "loading", "what": what, "fraction": fraction})

        try:
            backend = load_backend(BackendOptions(**options), progress)
        except Exception as exc:  # noqa: BLE001 - any load failure is one line for the user, never a dead engine
            self._load_thread = None
            self.events.emit({"type": "load_failed", "error": first_line(exc)})
            return
        self.backend = backend
        self._announce_loaded()

    def _announce_loaded(self) -> None:
        self.events.emit({"type": "loaded", "info": asdict(self.backend.info)})

    def encode(self, text: str, request: Any) -> None:
        if not text:
            count = 0
        elif self.backend is None:
            count = None  # not loaded yet: the app asks again once it is
        else:
            count = len(self.backend.encode(text))
        self.events.emit({"type": "encoded", "request": request, "count": count})

    def acknowledge(self, session_id: str) -> None:
        """The view has drawn the start of this session: its timed tokens may begin (settle.py)."""
        settle = self.settle
        if settle is not None:
            settle.acknowledge(session_id)

    def run(self, prompt: str, settings: dict[str, Any], settle: dict[str, Any] | None = None,
            breakdown: str | None = None) -> None:
        """`breakdown` ('classes' or 'layers'): a profiled pass after the timed sessions (profiler/breakdown)."""
        if self.running:
            self.events.emit({"type": "run_refused", "error": "a run is already active"})
            return
        if self.backend is None:
            self.events.emit({"type": "run_refused", "error": "the model is not loaded"})
            return
        run_settings = settings_from_dict(settings)
        self.cancel = threading.Event()
        try:
            self.settle = Settle.from_dict(settle)
        except (TypeError, ValueError) as exc:
            self.events.emit({"type": "run_refused", "error": first_line(exc)})
            return
        try:
            collector = Collector(self.backend, self.store, run_settings, clock=self.clock, cancel=self.cancel,
                                  observer=_StreamObserver(self.events, run_settings.max_new_tokens, self.settle))
            check_prompts([prompt])
            collector.encode_checked(prompt)  # a prompt too long for the model is refused before any session
            if breakdown is not None:
                _check_breakdown(breakdown)
                check_profilable(self.backend)  # refused before the timed runs, not after them
        except ProfilerError as exc:
            self.events.emit({"type": "run_refused", "error": str(exc)})
            return
        self.events.sample_source = lambda: collector.sampler.latest if collector.sampler is not None else None

        cancel = self.cancel

        def work() -> None:
            outcomes = collector.run([prompt])
            if breakdown is not None and outcomes and not cancel.is_set():
                self._profile(run_settings, prompt, outcomes, breakdown, cancel)

        self._start_run(work)

    def _profile(self, settings, prompt: str, outcomes: list[SessionOutcome], breakdown: str, cancel) -> None:
        """The profiled pass after the timed sessions (they are stored and untouched by now); `stop` (or the
        client leaving) ends it between steps, unstored."""
        from profiler.breakdown.after_runs import profile_after_runs

        self.events.emit({"type": "profiling", "breakdown": breakdown})
        self.events.sample_source = None  # the pass's samples would be drawn as the finished session's
        for pass_id, linked, _result in profile_after_runs(self.backend, self.store, settings, [prompt], outcomes,
                                                           layers=breakdown == "layers", cancel=cancel):
            self.events.emit({"type": "breakdown_stored", "pass_id": pass_id, "session_ids": linked})

    def run_remote(self, prompt: str, settings: dict[str, Any], remote: dict[str, Any],
                   breakdown: str | None = None) -> None:
        """A server streams the tokens (no local model needed): see remote_run.py."""
        from profiler.engine.remote_run import remote_options, run_remote

        if self.running:
            self.events.emit({"type": "run_refused", "error": "a run is already active"})
            return
        try:
            if breakdown is not None:  # the server's forward is not ours to profile
                raise InputError("--breakdown profiles a local model's forward: not a run on a server")
            run_settings = settings_from_dict(settings)
            run_settings.validate()
            check_prompts([prompt])
            options = remote_options(remote)
        except ProfilerError as exc:
            self.events.emit({"type": "run_refused", "error": str(exc)})
            return
        self.cancel = cancel = threading.Event()
        self.events.sample_source = None  # the server's device isn't ours to sample
        self._start_run(lambda: run_remote(options, self.store, self.events, run_settings, prompt, cancel))

    def _start_run(self, work: Callable[[], Any]) -> None:
        self._run_thread = threading.Thread(target=self._run, args=(work,), name="engine-run")
        self._run_thread.start()

    def _run(self, work: Callable[[], Any]) -> None:
        error = None
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - the session is already marked failed; the engine lives on
            error = first_line(exc)
        finally:
            self.events.emit({"type": "run_finished", "error": error})
            self._check_done(finished_thread=True)

    def stop(self) -> None:
        self.cancel.set()  # the loop stops before the next token; the session is stored `interrupted`

    def detach(self, policy: str) -> None:
        """The client is gone (or leaving): finish or stop the current run, then be done."""
        if policy not in DETACH_POLICIES:
            policy = DETACH_STOP
        if self.detach_policy != DETACH_STOP:  # `stop` wins over `finish` (e.g. SIGTERM after a hang-up)
            self.detach_policy = policy
        if self.detach_policy == DETACH_STOP:
            self.cancel.set()
        self._check_done()

    def _check_done(self, finished_thread: bool = False) -> None:
        running = self.running and not (finished_thread and threading.current_thread() is self._run_thread)
        if self.detach_policy is not None and not running:
            self.done.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        thread = self._run_thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True


def _check_breakdown(breakdown: Any) -> None:
    if breakdown not in BREAKDOWNS:
        raise InputError(f"--breakdown must be one of {', '.join(BREAKDOWNS)} (got {breakdown!r})")
