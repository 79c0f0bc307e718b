"""Run control for the app: the engine, the run it is doing, and the session being watched.

The app is a view. This controller starts the engine (a process, or an `InProcessEngine` in tests),
sends it what the user asks for, and turns its events into the messages in `tui/messages.py`. It
runs its callback on the engine client's thread: tokens are appended to the live buffer (which
the screen reads on its redraw timer) and everything else is a `post_message`, which never blocks.

Two kinds of live session:
- `live`: a run of our own engine; its tokens come as events.
- `follower`: a `running` session someone else writes (a detached engine, another app, `collect`);
  its tokens are read from the store as they are flushed.

What runs is the local model or a server (the connection form's choice, remembered here for the
app session). A server run goes through the engine too (`run_remote`), so a hang-up doesn't end
it either; with N streams in flight the panel shows one of them (the oldest still running).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from profiler.backends.base import BackendInfo
from profiler.engine.follow import SessionFollower
from profiler.engine.protocol import DETACH_STOP, token_from_list
from profiler.records import DECODE, TokenRecord
from tui.connection_settings import ConnectionSettings
from tui.messages import (BackendLoaded, BackendLoadFailed, BackendLoadProgressed, EngineExited, PromptCounted,
                          RunFinished, SessionSaved, SessionStarted)
from tui.run_progress import LatencyLine, RunProgress
from tui.session_view import timing_label

COUNT_CACHE_SIZE = 256
SETTLE = {"ack_timeout_s": 1.0, "gap_ms": 50.0}
"""Before each timed session of a local run: wait for the view's ack of its start (at most 1 s), then
50 ms, so the session-start redraw doesn't land in TTFT (issue 17). Stored with each session."""


@dataclass
class LiveSession:
    """The session our engine is running now."""

    session_id: str
    input_tokens: int
    max_new_tokens: int | None
    records: list[TokenRecord] = field(default_factory=list)
    sample: tuple | None = None
    """The engine's latest GPU/CPU sample (rides on each batch of tokens)."""
    timing: str = "device"
    """'arrival' for a server's stream (client arrival timing), as the stored session says."""
    concurrency: int = 1
    """Streams of its run in flight together."""
    ended: bool = False


class RunController:
    def __init__(self, poster, engine_factory: Callable[[Callable[[dict], None]], Any], backend_options) -> None:
        self.poster = poster
        """Anything with a thread-safe `post_message` (the main screen)."""
        self._engine_factory = engine_factory
        self.backend_options = backend_options
        self.settle = dict(SETTLE)
        """How each local session waits for the view (see SETTLE); a test on a loaded box may allow longer."""
        self.engine = None
        self.loading = False
        self.run_active = False
        """From the run request until the engine's `run_finished`."""
        self.live: LiveSession | None = None
        self.progress: RunProgress | None = None
        """Which generation of the current run is going, and how far (the live panel's progress line)."""
        self.streams: dict[str, LiveSession] = {}
        """Every session of the current run so far, by id (a server run has one per stream); `live`
        is the one the panel shows: of several streams at once, the oldest still running."""
        self.follower: SessionFollower | None = None
        self.remote = None
        """The server runs go to (`RemoteOptions`), or None for the local model."""
        self.connection = ConnectionSettings()
        """The connection form's last applied values (remembered for the app session)."""
        self.local_info: BackendInfo | None = None
        """The local model, once the engine loaded it."""
        if type(backend_options).__name__ == "RemoteOptions":  # `tokenlat-tui --server URL`: no local model
            self.remote = backend_options
            self.connection = ConnectionSettings.from_options(backend_options)
            self.backend_options = None
        self._counts: dict[str, int] = {}
        self._last_count = 0
        self._left = False

    @property
    def info(self) -> BackendInfo | None:
        """What runs: the server (its description) or the loaded local model; None when neither can run."""
        if self.remote is not None:
            return server_info(self.remote)
        return self.local_info

    # -- the engine
    def start_engine(self) -> None:
        self.engine = self._engine_factory(self._on_event)
        self.engine.start()
        if self.remote is None:
            self.loading = True
            self.engine.load(self.backend_options)
        else:
            self.poster.post_message(BackendLoaded(self.info))  # nothing to load: the server is ready to try

    def _engine_alive(self) -> bool:
        return self.engine is not None and getattr(self.engine, "alive", False)

    def connect(self, settings: ConnectionSettings, options) -> None:
        """Apply the connection form: runs go to the server `options`, or (None) to the local model,
        which is loaded now if it isn't yet. Nothing is sent to the server until a run."""
        self.connection = settings
        self.remote = options
        post = self.poster.post_message
        if options is not None:
            if not self._engine_alive():
                self.start_engine()
            post(BackendLoaded(self.info))  # the model bar and the editor treat a server like a loaded model
            return
        if self.backend_options is None:
            from profiler.backends import BackendOptions

            self.backend_options = BackendOptions()
        if self.local_info is not None:
            post(BackendLoaded(self.local_info))
            return
        self.reload()
        if self.loading:
            post(BackendLoadProgressed("loading the local model", 0.0))

    def cancel_load(self) -> None:
        """Stop loading: the engine process is ended (nothing is stored while loading)."""
        if not self.loading or self.engine is None:
            return
        self.loading = False
        self.engine.terminate()
        self.poster.post_message(BackendLoadFailed("model load cancelled (ctrl+l loads it)"))

    def reload(self) -> None:
        """Load the model again after a failed or cancelled load, or after the engine died."""
        if self.remote is not None:
            if not self._engine_alive():
                self.start_engine()  # a server needs no model, only an engine to run it
            return
        if self.loading or self.local_info is not None:
            return
        if self._engine_alive():
            self.loading = True
            self.engine.load(self.backend_options)
            return
        self.start_engine()

    def leave(self, policy: str = DETACH_STOP) -> None:
        """The app is going: the engine stops (or, with `finish`, completes) its run, stores it, and exits."""
        if self._left or self.engine is None:
            return
        self._left = True
        self.engine.detach(policy)

    @property
    def engine_pid(self) -> int | None:
        return None if self.engine is None else self.engine.pid

    # -- running
    def run(self, prompt: str, settings, breakdown: str | None = None) -> None:
        """`breakdown` ('classes' or 'layers'): a profiled pass after the timed sessions (the engine
        refuses it on a server, or a backend without a local model, before any session)."""
        self.run_active = True
        self.live = None  # the last run's session must not be drawn as this one's
        # a server run makes at least one request per stream (profiler/remote/runner.py plans them)
        streams = 1 if self.remote is None else (self.remote.concurrency or 1)
        self.progress = RunProgress(settings.warmup, max(settings.repeat, streams), settings.max_new_tokens,
                                    time.monotonic(), unit="repeat" if self.remote is None else "request")
        self.streams = {}
        if self.remote is None:
            # each session waits for the view to draw its start, then a gap (profiler/engine/settle.py)
            self.engine.run(prompt, settings, settle=self.settle, breakdown=breakdown)
            return
        if not self._engine_alive():
            self.start_engine()
        self.engine.run_remote(prompt, settings, self.remote, breakdown)

    def acknowledge(self, session_id: str) -> None:
        """The view has drawn `session_id`'s start: the engine may begin its timed tokens."""
        ack = getattr(self.engine, "ack", None)
        if ack is not None:
            ack(session_id)

    def progress_text(self) -> str | None:
        """The live panel's progress line for our run (None when none is going): every stream counts
        towards the ETA; tokens n/N are the shown session's."""
        if not self.run_active or self.progress is None:
            return None
        streams = [(len(stream.records), stream.ended) for stream in list(self.streams.values())]
        live = self.live
        if live is None:
            return self.progress.text(streams, 0)
        records = list(live.records)
        line = LatencyLine.fit([(r.context_size, r.latency_ms) for r in records if r.phase == DECODE])
        return self.progress.text(streams, len(records), input_tokens=live.input_tokens, line=line)

    def live_title(self) -> str:
        """The live panel's title: the session, and for a server's concurrent streams how many are in
        flight (the panel adds the session's timing label)."""
        live = self.live
        if live is None:
            return ""
        title = f"running {live.session_id[:8]}"
        if live.concurrency > 1:
            running = sum(1 for stream in self.streams.values() if not stream.ended)
            title += f" · {running} of {live.concurrency} streams in flight"
        return title

    def stop(self) -> None:
        if self.run_active and self.engine is not None:
            self.engine.stop()

    async def stop_and_wait(self, timeout: float) -> None:
        """Stop the run and wait (up to `timeout`) until the engine reports it stored."""
        self.stop()
        deadline = asyncio.get_running_loop().time() + timeout
        while self.run_active and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)

    def run_ended(self) -> None:
        self.run_active = False

    # -- prompt token counts (the tokenizer is the model's, in the engine)
    def count_tokens(self, text: str) -> range:
        """What `PromptEditor.encode` is given: something whose len() is the prompt's token count.

        The count comes back from the engine asynchronously; until it does, the last known count is
        shown, and `PromptCounted` makes the editor ask again (then it is cached)."""
        count = self._counts.get(text)
        if count is None:
            if self.engine is not None:
                self.engine.encode(text, text)
            count = self._last_count
        return range(count)

    # -- following a session someone else runs
    def follow(self, store_path, session_id: str) -> SessionFollower | None:
        if self.follower is not None and self.follower.session_id == session_id:
            return self.follower
        self.unfollow()
        try:
            self.follower = SessionFollower(store_path, session_id)
        except LookupError:
            return None
        return self.follower

    def unfollow(self) -> None:
        if self.follower is not None:
            self.follower.close()
            self.follower = None

    def owns(self, pid: int | None) -> bool:
        return self.engine is not None and self.engine.owns(pid)

    # -- engine events (on the engine client's thread)
    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        post = self.poster.post_message
        if kind == "tokens":
            live = self.streams.get(event["session_id"])
            if live is not None:
                records = [token_from_list(values) for values in event["records"]]
                if event.get("replace"):
                    live.records = records  # a remote stream's stored tokens replace the provisional ones
                else:
                    live.records.extend(records)
                if event.get("sample"):
                    live.sample = tuple(event["sample"])
        elif kind == "loading":
            post(BackendLoadProgressed(event["what"], event["fraction"]))
        elif kind == "loaded":
            self.loading = False
            self.local_info = BackendInfo(**event["info"])
            post(BackendLoaded(self.info))
        elif kind == "load_failed":
            self.loading = False
            post(BackendLoadFailed(event["error"]))
        elif kind == "encoded":
            if event.get("count") is not None:
                if len(self._counts) > COUNT_CACHE_SIZE:
                    self._counts.clear()
                self._counts[event["request"]] = self._last_count = event["count"]
                post(PromptCounted())
        elif kind == "session_started":
            if self.progress is not None:
                self.progress.session_started(event["warmup"])
            live = LiveSession(event["session_id"], event["input_tokens"], event.get("max_new_tokens"),
                               timing=event.get("timing", "device"), concurrency=event.get("concurrency", 1))
            self.streams[live.session_id] = live
            if self.live is None or self.live.ended:
                self.live = live
            post(SessionStarted(event["session_id"], event["input_tokens"], event["warmup"]))
        elif kind == "session_ended":
            ended = self.streams.get(event["session_id"])
            if ended is not None:
                ended.ended = True
                if ended is self.live:  # show the oldest stream still running, if any
                    self.live = next((s for s in self.streams.values() if not s.ended), ended)
            post(SessionSaved(event["session_id"], event["status"], event.get("error"), event.get("warmup", False)))
        elif kind in ("run_finished", "run_refused"):
            post(RunFinished(event.get("error"), refused=kind == "run_refused"))
        elif kind == "exited":
            self.loading = False
            self.local_info = None
            if not event.get("expected"):
                post(EngineExited(event.get("code")))


def server_info(options) -> BackendInfo:
    """What the model bar shows for a server: its model (or URL), and how its latencies are timed."""
    return BackendInfo(model=options.server_model or options.server, backend=f"{options.api}-server",
                       device="remote", timing="arrival", label=timing_label({"timing": "arrival"}))
