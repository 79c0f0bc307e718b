"""Run control for the app: the engine, the run it is doing, and the session being watched.

The app is a view. This controller starts the engine (a process, or an `InProcessEngine` in tests),
sends it what the user asks for, and turns its events into the messages in `tui/messages.py`. It
runs its callback on the engine client's thread: tokens are appended to the live buffer (which
the screen reads on its redraw timer) and everything else is a `post_message`, which never blocks.

Two kinds of live session:
- `live`: a run of our own engine; its tokens come as events.
- `follower`: a `running` session someone else writes (a detached engine, another app, `collect`);
  its tokens are read from the store as they are flushed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable

from profiler.backends.base import BackendInfo
from profiler.engine.follow import SessionFollower
from profiler.engine.protocol import DETACH_STOP, token_from_list
from profiler.records import TokenRecord
from tui.messages import (BackendLoaded, BackendLoadFailed, BackendLoadProgressed, EngineExited, PromptCounted,
                          RunFinished, SessionSaved, SessionStarted)

COUNT_CACHE_SIZE = 256


@dataclass
class LiveSession:
    """The session our engine is running now."""

    session_id: str
    input_tokens: int
    max_new_tokens: int | None
    records: list[TokenRecord] = field(default_factory=list)
    sample: tuple | None = None
    """The engine's latest GPU/CPU sample (rides on each batch of tokens)."""


class RunController:
    def __init__(self, poster, engine_factory: Callable[[Callable[[dict], None]], Any], backend_options) -> None:
        self.poster = poster
        """Anything with a thread-safe `post_message` (the main screen)."""
        self._engine_factory = engine_factory
        self.backend_options = backend_options
        self.engine = None
        self.info: BackendInfo | None = None
        """The loaded model's description; None until the engine says it is loaded."""
        self.loading = False
        self.run_active = False
        """From the run request until the engine's `run_finished`."""
        self.live: LiveSession | None = None
        self.follower: SessionFollower | None = None
        self._counts: dict[str, int] = {}
        self._last_count = 0
        self._left = False

    # -- the engine
    def start_engine(self) -> None:
        self.engine = self._engine_factory(self._on_event)
        self.engine.start()
        self.loading = True
        self.engine.load(self.backend_options)

    def cancel_load(self) -> None:
        """Stop loading: the engine process is ended (nothing is stored while loading)."""
        if not self.loading or self.engine is None:
            return
        self.loading = False
        self.engine.terminate()
        self.poster.post_message(BackendLoadFailed("model load cancelled (ctrl+l loads it)"))

    def reload(self) -> None:
        """Load the model again after a failed or cancelled load, or after the engine died."""
        if self.loading or self.info is not None:
            return
        if self.engine is not None and getattr(self.engine, "alive", False):
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
    def run(self, prompt: str, settings) -> None:
        self.run_active = True
        self.engine.run(prompt, settings)

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
            live = self.live
            if live is not None and live.session_id == event["session_id"]:
                live.records.extend(token_from_list(values) for values in event["records"])
                if event.get("sample"):
                    live.sample = tuple(event["sample"])
        elif kind == "loading":
            post(BackendLoadProgressed(event["what"], event["fraction"]))
        elif kind == "loaded":
            self.loading = False
            self.info = BackendInfo(**event["info"])
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
            self.live = LiveSession(event["session_id"], event["input_tokens"], event.get("max_new_tokens"))
            post(SessionStarted(event["session_id"], event["input_tokens"], event["warmup"]))
        elif kind == "session_ended":
            post(SessionSaved(event["session_id"], event["status"], event.get("error"), event.get("warmup", False)))
        elif kind in ("run_finished", "run_refused"):
            post(RunFinished(event.get("error"), refused=kind == "run_refused"))
        elif kind == "exited":
            self.loading = False
            self.info = None
            if not event.get("expected"):
                post(EngineExited(event.get("code")))
