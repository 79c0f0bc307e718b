"""Runs a remote profile: warm-up requests, then a closed loop of N streams or Poisson arrivals.

Every request is its own session (grouped by run id). GC is collected and frozen after warm-up,
the GIL switch interval is shortened while streams run (so the sink's shipper and receiver
threads can't hold the loop off for the default 5 ms), and each request's client-side queueing time is recorded.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import random
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from profiler.collect import RunSettings, SessionOutcome, check_prompts
from profiler.errors import BackendError, InputError, StoreError
from profiler.gc_watch import GcWatch
from profiler.records import SessionMeta
from profiler.remote.accounting import COLD_LOAD_NS, compare_with_server, count_tokens, derive_tokens
from profiler.remote.chunks import Chunk
from profiler.remote.client import RemoteClient, StreamResult
from profiler.remote.errors import CONNECT, HTTP
from profiler.remote.requests import request_body
from profiler.remote.sink import StoreSink
from profiler.remote.stamping import stamping_event_loop
from profiler.remote.summary import summarize_run
from profiler.store.chunks import end_run
from profiler.store.connection import open_connection

MAX_NOTE_LINES = 3
"""Distinct stream notes (a refused server count, no [DONE]) printed after a run; the rest are counted."""
SWITCH_INTERVAL_S = 0.0002
"""While streams run: how long another Python thread may hold the GIL while the loop waits for it."""


@dataclass
class _Request:
    prompt: str
    warmup: bool
    repeat_index: int
    scheduled_ns: int = 0


@dataclass
class RunReport:
    run_id: str
    outcomes: list[SessionOutcome]
    summary: dict[str, Any]
    problems: list[str]
    """One line per kind of failure among the streams (stalls, dropped streams), for the CLI."""
    notices: list[str]
    """Facts worth a line that aren't failures (a cold model load inside measured requests)."""


class RemoteRun:
    def __init__(self, backend, store, settings: RunSettings, *, cancel: threading.Event | None = None,
                 observer: Any = None) -> None:
        settings.validate()
        if settings.ignore_eos and backend.options.api == "ollama":
            raise InputError("--ignore-eos: Ollama's API has no such option (num_predict is an upper bound)")
        self.backend = backend
        self.options = backend.options
        self.store = store
        self.settings = settings
        self.cancel = cancel or threading.Event()
        self.observer = observer
        """A `RemoteObserver` (the app's engine), called on the sink's receiver thread, never on the event loop."""
        self.run_id = str(uuid.uuid4())
        self.abort: str | None = None
        """The first connect/HTTP error: every later request would fail the same way, so none is sent."""
        self._keys = itertools.count()
        self._tasks: set[asyncio.Task] = set()
        self._results: list[tuple[int, _Request, StreamResult]] = []
        self.in_session = False

    # -- the plan
    def _plan(self, prompts: list[str]) -> tuple[list[_Request], list[_Request]]:
        warmups = [_Request(prompts[0], True, i) for i in range(self.settings.warmup)]
        cycle = [(p, r) for p in prompts for r in range(self.settings.repeat)]
        count = self.options.num_requests or max(len(cycle), self.options.concurrency or 1)
        measured = [_Request(prompt, False, repeat) for prompt, repeat in itertools.islice(itertools.cycle(cycle), count)]
        return warmups, measured

    def run(self, prompts: list[str]) -> RunReport:
        check_prompts(prompts)
        warmups, measured = self._plan(prompts)
        self.sink = StoreSink(self.store, self.observer)
        self.sink.begin_run(self.run_id, {"settings": asdict(self.settings), "remote": self.options.describe(),
                                          "prompts": len(prompts)})
        switch = sys.getswitchinterval()
        self.in_session = True
        try:
            sys.setswitchinterval(SWITCH_INTERVAL_S)
            with asyncio.Runner(loop_factory=stamping_event_loop) as runner:  # stamps at select(): stamping.py
                runner.run(self._main(warmups, measured))
        finally:
            sys.setswitchinterval(switch)
            self.sink.close()
            self.in_session = False
        if self.sink.error is not None:
            raise StoreError(self.sink.error)
        report = self._report()
        if self.abort:
            raise BackendError(self.abort)
        return report

    async def _main(self, warmups: list[_Request], measured: list[_Request]) -> None:
        async with RemoteClient(self.options, self.backend._api_key) as client:
            watcher = asyncio.create_task(self._watch_cancel())
            with GcWatch() as self.gc_watch:
                for request in warmups:
                    if self._stopping():
                        break
                    await self._one(client, request)
                frozen = self.settings.gc_freeze
                if frozen:
                    gc.collect()
                    gc.freeze()
                try:
                    if self.options.request_rate:
                        await self._poisson(client, measured)
                    else:
                        await self._closed_loop(client, measured)
                finally:
                    if frozen:
                        gc.unfreeze()
            watcher.cancel()

    def _stopping(self) -> bool:
        return self.cancel.is_set() or self.abort is not None

    async def _watch_cancel(self) -> None:
        while not self.cancel.is_set():
            await asyncio.sleep(0.02)
        for task in list(self._tasks):
            task.cancel()

    def _track(self, coroutine) -> asyncio.Task:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _closed_loop(self, client: RemoteClient, measured: list[_Request]) -> None:
        pending = iter(measured)

        async def worker() -> None:
            for request in pending:  # a shared iterator: each request is taken by one worker
                if self._stopping():
                    return
                request.scheduled_ns = time.perf_counter_ns()
                await self._one(client, request)

        workers = [self._track(worker()) for _ in range(min(self.options.concurrency or 1, len(measured)))]
        await asyncio.gather(*workers, return_exceptions=True)

    async def _poisson(self, client: RemoteClient, measured: list[_Request]) -> None:
        rng = random.Random(self.settings.sampling.seed)
        limit = asyncio.Semaphore(self.options.concurrency) if self.options.concurrency else None
        start, offset_s = time.perf_counter_ns(), 0.0
        streams = []

        async def gated(request: _Request) -> None:
            if limit is None:
                await self._one(client, request)
                return
            async with limit:
                if not self._stopping():
                    await self._one(client, request)

        try:
            for request in measured:
                offset_s += rng.expovariate(self.options.request_rate)
                request.scheduled_ns = start + int(offset_s * 1e9)
                delay = (request.scheduled_ns - time.perf_counter_ns()) / 1e9
                if delay > 0:
                    await asyncio.sleep(delay)
                if self._stopping():
                    break
                streams.append(self._track(gated(request)))
        except asyncio.CancelledError:
            pass
        await asyncio.gather(*streams, return_exceptions=True)

    async def _one(self, client: RemoteClient, request: _Request) -> None:
        key = next(self._keys)
        info = self.backend.info
        scheduled_ns = request.scheduled_ns or time.perf_counter_ns()
        meta = SessionMeta(prompt=request.prompt, input_tokens=0, model=info.model, backend=info.backend,
                           device=info.device, warmup=request.warmup, repeat_index=request.repeat_index,
                           settings={**asdict(self.settings), "remote": self.options.describe(),
                                     "run_id": self.run_id},
                           environment={**info.environment, "gc_freeze": self.settings.gc_freeze,
                                        "switch_interval_s": SWITCH_INTERVAL_S})
        sink = self.sink
        sink.begin(key, meta, self.run_id, {"run_id": self.run_id, "api": self.options.api,
                                            "endpoint": self.options.endpoint, "url": client.url})
        sampling = self.settings.sampling
        body = request_body(self.options, request.prompt, max_new_tokens=self.settings.max_new_tokens,
                            ignore_eos=self.settings.ignore_eos, temperature=sampling.temperature,
                            top_p=sampling.top_p, seed=sampling.seed)
        previous: list = [None, None]  # last chunk's arrival, the wall-clock time of the request's send

        def on_chunk(chunk: Chunk, sent_ns: int, facts) -> None:
            gap = (chunk.arrival_ns - previous[0]) / 1e6 if previous[0] is not None else None
            previous[0] = chunk.arrival_ns
            if previous[1] is None:
                previous[1] = time.time() - (time.perf_counter_ns() - sent_ns) / 1e9
            sink.chunk(key, (chunk.n, (chunk.arrival_ns - sent_ns) / 1e6, gap, chunk.tokens, int(chunk.content),
                             chunk.text, chunk.gc_collections), facts.prompt_tokens, previous[1])

        result = await client.stream(body, scheduled_ns, lambda: self.gc_watch.collections, on_chunk,
                                     self.settings.max_new_tokens)
        if result.error_kind in (CONNECT, HTTP) and self.abort is None:
            self.abort = result.error
        self._results.append((key, request, result))
        sink.end(key, result.status, result.error, self._finalizer(request, result), result.facts.finish_reason)

    def _finalizer(self, request: _Request, result: StreamResult):
        tokenizer = self.backend.tokenizer
        wall_now, perf_now = time.time(), time.perf_counter_ns()

        def finalize():  # runs on the sink's shipper thread
            facts = result.facts
            counts, source, refused = count_tokens(result.chunks, facts.server_tokens, tokenizer,
                                                   max_new_tokens=self.settings.max_new_tokens,
                                                   refused=facts.count_refused)
            input_tokens = facts.prompt_tokens
            if input_tokens is None and tokenizer is not None:
                input_tokens = len(tokenizer(request.prompt, add_special_tokens=False)["input_ids"])
            tokens = []
            if result.sent_ns is not None:
                wall_at_sent = wall_now - (perf_now - result.sent_ns) / 1e9
                tokens = derive_tokens(result.chunks, counts, sent_ns=result.sent_ns, wall_at_sent=wall_at_sent,
                                       input_tokens=input_tokens or 0)
            server_timing = dict(facts.server_timing)
            if server_timing:
                ttft = tokens[0].latency_ms if tokens else None
                decode = [t.latency_ms for t in tokens if t.phase == "decode"]
                server_timing.update(compare_with_server(server_timing, ttft, sum(decode) if decode else None,
                                                         len(decode)))
            notes = [line for line in (refused, result.note) if line]
            if notes:  # kept with the session's server facts: `show` lists them
                server_timing["note"] = "; ".join(notes)
            remote = {"token_source": source if result.chunks else None,
                      "queue_ms": (result.sent_ns - result.scheduled_ns) / 1e6 if result.sent_ns else None,
                      "http_status": result.http_status, "server_tokens": facts.server_tokens,
                      "counted_tokens": sum(counts), "chunks": sum(1 for c in result.chunks if c.content),
                      "server_timing": server_timing, "cold_load": server_timing.get("cold_load")}
            updates = {"input_tokens": input_tokens or 0}
            if facts.model and not self.options.server_model:
                updates["model"] = facts.model
            return tokens, remote, updates

        return finalize

    def _report(self) -> RunReport:
        ids = self.sink.session_ids
        outcomes, measured_ids, problems, sources = [], [], {}, []
        first_sent, last_end = None, None
        for key, request, result in sorted(self._results, key=lambda item: item[0]):
            if key not in ids:
                continue
            outcome = SessionOutcome(ids[key], result.status, result.facts.finish_reason, request.warmup,
                                     0, result.error)
            outcomes.append(outcome)
            if result.error and result.error_kind not in (CONNECT, HTTP) and result.error != "cancelled":
                problems.setdefault(result.error_kind, result.error)
            if not request.warmup:
                measured_ids.append(ids[key])
                if result.sent_ns is not None:
                    first_sent = min(first_sent or result.sent_ns, result.sent_ns)
                    last_end = max(last_end or result.ended_ns, result.ended_ns)
        sessions = [self.store.get_session(i) for i in measured_ids]
        tokens = {i: self.store.session_tokens(i) for i in measured_ids}
        for outcome in outcomes:
            outcome.tokens = len(tokens.get(outcome.session_id, [])) if not outcome.warmup else 0
        from profiler.store.chunks import remote_session

        conn = open_connection(self.store.path)
        cold, notes = 0, {}
        try:
            for session_id in measured_ids:
                info = remote_session(conn, session_id)
                if info and info["token_source"]:
                    sources.append(info["token_source"])
                cold += bool(info and info["cold_load"])
                note = info and info["server_timing"].get("note")
                if note:  # a refused server count, a stream without [DONE]: said once per kind
                    notes[note] = notes.get(note, 0) + 1
            span = (last_end - first_sent) / 1e9 if first_sent is not None and last_end else None
            summary = summarize_run(sessions, tokens, span, sources)
            summary.update({"run_id": self.run_id, "concurrency": self.options.concurrency or 1,
                            "request_rate": self.options.request_rate, "timing": "arrival",
                            "per_token": "derived: each chunk's gap split evenly over its tokens",
                            "cold_loads": cold})
            end_run(conn, self.run_id, summary)
        finally:
            conn.close()
        lines = [f"{count} stream(s): {text}" for text, count in _count_problems(self._results, problems).items()]
        notices = [f"{cold} measured request(s) include a cold model load (server load_duration > "
                   f"{COLD_LOAD_NS / 1e6:.0f} ms): their TTFT counts loading; add --warmup"] if cold else []
        shown = list(notes.items())[:MAX_NOTE_LINES]  # notes name their figures: each stream's may differ
        notices += [f"{count} stream(s): {text}" for text, count in shown]
        if len(notes) > len(shown):
            notices.append(f"{sum(notes.values()) - sum(c for _, c in shown)} more stream(s) with notes (`show ID`)")
        return RunReport(self.run_id, outcomes, summary, lines, notices)


def _count_problems(results, first_of_kind: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _key, _request, result in results:
        if result.error_kind in first_of_kind:
            text = first_of_kind[result.error_kind]
            counts[text] = counts.get(text, 0) + 1
    return counts
