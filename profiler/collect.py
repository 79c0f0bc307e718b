"""Collection: warm-up, repeats, one stored session per generation. The CLI and the app both use it.

Each session's row is written before its first token, its tokens are flushed while it runs, and
whatever ends it — the last token, a cancel (escape, SIGINT/SIGTERM/SIGHUP), or an error — leaves it
marked `finished`, `interrupted` or `failed` with every token it produced.
"""

from __future__ import annotations

import gc
import threading
from dataclasses import asdict, dataclass, field

from profiler.backends.base import Backend, SamplingSettings
from profiler.clock import Clock, PerfClock
from profiler.decode_loop import STOP_CANCELLED, run_generation
from profiler.errors import InputError, StoreError, first_line
from profiler.flag_checks import MAX_NEW_TOKENS, MAX_REPEAT, MAX_WARMUP, check_finite, check_seed
from profiler.gc_watch import GcWatch
from profiler.machine_noise import Finding, device_gpu_findings, session_noise, try_snapshot
from profiler.records import FAILED, FINISHED, INTERRUPTED, SessionMeta, TokenRecord
from profiler.session_fields import backend_fields
from profiler.store import SessionStore
from profiler.system_metrics import MetricsSampler


@dataclass(frozen=True)
class RunSettings:
    max_new_tokens: int = 128
    ignore_eos: bool = False
    warmup: int = 1
    """Warm-up generations before the measured ones: recorded, flagged, left out of statistics."""
    repeat: int = 1
    """Measured generations per prompt."""
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    gc_freeze: bool = True
    """gc.collect(); gc.freeze() after warm-up, so old objects never make a collection slow."""
    system_metrics: bool = True

    def validate(self) -> None:
        if self.max_new_tokens < 1:
            raise InputError(f"--max-new-tokens must be at least 1 (got {self.max_new_tokens})")
        if self.warmup < 0:
            raise InputError(f"--warmup can't be negative (got {self.warmup})")
        if self.repeat < 1:
            raise InputError(f"--repeat must be at least 1 (got {self.repeat})")
        # stated upper bounds (profiler/flag_checks.py), before any model loads or any row is written
        for flag, value, most in (("--max-new-tokens", self.max_new_tokens, MAX_NEW_TOKENS),
                                  ("--warmup", self.warmup, MAX_WARMUP), ("--repeat", self.repeat, MAX_REPEAT)):
            if value > most:
                raise InputError(f"{flag} must be at most {most} (got {value})")
        # nan passes every comparison below unnoticed (argparse's float() accepts 'nan' and 'inf')
        temperature = check_finite("--temperature", self.sampling.temperature)
        if temperature < 0:
            raise InputError(f"--temperature can't be negative (got {temperature})")
        top_p = check_finite("--top-p", self.sampling.top_p)
        if not 0 < top_p <= 1:
            raise InputError(f"--top-p must be in (0, 1] (got {top_p})")
        check_seed("--seed", self.sampling.seed)


@dataclass
class SessionOutcome:
    session_id: str
    status: str
    stop_reason: str | None
    warmup: bool
    tokens: int
    error: str | None = None


class RunObserver:
    """Hooks called on the collecting thread; keep them quick (the app buffers and posts messages)."""

    def session_started(self, session_id: str, meta: SessionMeta) -> None: ...

    def token(self, session_id: str, record: TokenRecord) -> None: ...

    def settle(self, session_id: str) -> dict | None:
        """Called after `session_started`, before the session's first timed token: the app's engine waits
        here for its view to settle (profiler/engine/settle.py) and says how; headless, nothing."""
        return None

    def session_ended(self, outcome: SessionOutcome) -> None: ...


def check_prompts(prompts: list[str]) -> None:
    if not prompts:
        raise InputError("no prompt given")
    for number, prompt in enumerate(prompts, 1):
        if not prompt.strip():
            raise InputError("empty prompt" if len(prompts) == 1 else f"prompt {number} is empty")


def ended_by(exc: BaseException, cancel: threading.Event) -> tuple[str, str]:
    """The status and one-line error of a session an exception ended. A cancel that surfaced as an
    error (e.g. the terminal vanished mid-print) is still an interrupt."""
    interrupted = cancel.is_set() or isinstance(exc, KeyboardInterrupt)
    return (INTERRUPTED if interrupted else FAILED), first_line(exc)


class Collector:
    def __init__(self, backend: Backend, store: SessionStore, settings: RunSettings, *, clock: Clock | None = None,
                 cancel: threading.Event | None = None, observer: RunObserver | None = None,
                 scheduler_accounting: bool = True) -> None:
        """`scheduler_accounting=False` stores no per-token CPU wait: only for benchmarks/overhead.py's A/B."""
        settings.validate()
        self.scheduler_accounting = scheduler_accounting
        self.backend = backend
        self.store = store
        self.settings = settings
        self.clock = clock or PerfClock()
        self.cancel = cancel or threading.Event()
        self.observer = observer or RunObserver()
        self.sampler: MetricsSampler | None = None
        """The running session's metrics sampler (`.latest` feeds live GPU/CPU figures)."""
        self.in_session = False
        """True from a session's first write to its final status: signal handlers must not raise then."""
        self._gpu_noise: list[Finding] | None = None

    def encode_checked(self, prompt: str) -> list[int]:
        """The prompt's ids, or an InputError if it (plus the tokens to generate) can't fit the context."""
        ids = self.backend.encode(prompt)
        limit = self.backend.info.max_context
        if limit:
            if len(ids) > limit:
                raise InputError(f"prompt is {len(ids)} tokens, longer than the model's context of {limit} tokens")
            if len(ids) + self.settings.max_new_tokens > limit:
                raise InputError(f"prompt ({len(ids)} tokens) + --max-new-tokens {self.settings.max_new_tokens} "
                                 f"exceeds the model's context of {limit} tokens")
        return ids

    def run(self, prompts: list[str]) -> list[SessionOutcome]:
        check_prompts(prompts)
        encoded = [self.encode_checked(p) for p in prompts]  # every prompt checked before any runs
        outcomes: list[SessionOutcome] = []
        with GcWatch() as gc_watch:
            for index in range(self.settings.warmup):
                if self.cancel.is_set():
                    return outcomes
                outcomes.append(self._session(prompts[0], encoded[0], gc_watch, warmup=True, repeat_index=index))
            frozen = self.settings.gc_freeze
            if frozen:
                gc.collect()
                gc.freeze()
            try:
                for prompt, ids in zip(prompts, encoded):
                    for repeat_index in range(self.settings.repeat):
                        if self.cancel.is_set():
                            return outcomes
                        outcomes.append(self._session(prompt, ids, gc_watch, warmup=False, repeat_index=repeat_index))
            finally:
                if frozen:
                    gc.unfreeze()
        return outcomes

    def gpu_noise(self) -> list[Finding]:
        """The GPU's side of the machine's noise (other processes, clocks, power...), checked once per
        collector: nothing on a CPU run."""
        if self._gpu_noise is None:
            self._gpu_noise = device_gpu_findings(self.backend.info.device or "")
        return self._gpu_noise

    def _meta(self, prompt: str, ids: list[int], warmup: bool, repeat_index: int) -> SessionMeta:
        info = self.backend.info
        settings = asdict(self.settings)
        return SessionMeta(**backend_fields(info), prompt=prompt, input_tokens=len(ids), warmup=warmup,
                           repeat_index=repeat_index, settings=settings,
                           environment={**info.environment, "gc_freeze": self.settings.gc_freeze,
                                        "timing": info.timing})

    def _session(self, prompt: str, ids: list[int], gc_watch: GcWatch, *, warmup: bool,
                 repeat_index: int) -> SessionOutcome:
        meta = self._meta(prompt, ids, warmup, repeat_index)
        gpu_noise = self.gpu_noise()
        noise_start = try_snapshot()  # the machine's noise is recorded over the session (machine_noise.py)
        self.in_session = True
        try:
            writer = self.store.begin_session(meta)
        except BaseException:
            self.in_session = False  # nothing was started (e.g. a full disk refused the session's row)
            raise
        outcome = SessionOutcome(writer.session_id, FAILED, None, warmup, 0)
        generation = None
        ended_environment: dict = {}  # stored into the session's environment when it ends: settle, noise
        sampler = MetricsSampler(self.backend.info.device) if self.settings.system_metrics else None
        self.sampler = sampler
        try:
            if sampler:
                sampler.start()
                writer.set_metrics_source(sampler.drain)
            self.observer.session_started(writer.session_id, meta)
            settled = self.observer.settle(writer.session_id)
            if settled is not None:
                ended_environment["app_settle"] = settled  # stored with the session: the app changed its run
            generation = self.backend.start(ids, self.settings.sampling)

            def on_token(record: TokenRecord) -> None:
                writer.add_token(record)
                writer.flush_if_due()
                outcome.tokens = record.k
                self.observer.token(writer.session_id, record)

            outcome.stop_reason = run_generation(
                generation, input_tokens=len(ids), max_new_tokens=self.settings.max_new_tokens,
                eos_token_ids=self.backend.eos_token_ids, ignore_eos=self.settings.ignore_eos, clock=self.clock,
                cancel=self.cancel, gc_watch=gc_watch, on_token=on_token,
                scheduler_accounting=self.scheduler_accounting)
            outcome.status = INTERRUPTED if outcome.stop_reason == STOP_CANCELLED else FINISHED
        except BaseException as exc:
            outcome.status, outcome.error = ended_by(exc, self.cancel)
            raise
        finally:
            if sampler:
                sampler.stop()
            if generation is not None:
                generation.close()
            try:
                noise = session_noise(noise_start, gpu_noise)
                if noise:
                    ended_environment["machine_noise"] = noise
                writer.finish(outcome.status, outcome.error, environment=ended_environment or None)
            except StoreError as exc:
                # the store stopped taking writes (disk full): the session ended as well as it could,
                # and this error (what was kept, what was not) replaces any error already on its way
                outcome.status = FAILED if outcome.status == FINISHED else outcome.status
                outcome.error = outcome.error or str(exc)
                raise
            finally:
                self.in_session = False
                self.observer.session_ended(outcome)
        return outcome
