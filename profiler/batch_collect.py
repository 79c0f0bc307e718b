"""Batched collection: B sequences decoded together, stored as B sessions grouped under one run.

Python API (the CLI's `collect --batch B` and the sweep's batched cells both call this):

    from profiler.batch_collect import collect_batch, BatchRun

    run: BatchRun = collect_batch(
        backend,            # a loaded HuggingFaceBackend (load_backend(BackendOptions(..., cache="static",
                            #   compile=True)) for the static-cache + torch.compile path)
        store,              # profiler.store.SessionStore
        settings,           # profiler.collect.RunSettings: max_new_tokens, ignore_eos, warmup, repeat,
                            #   sampling, gc_freeze, system_metrics (same meaning as for one sequence)
        prompts,            # list[str]: cycled over the B sequences (one prompt = replicated B times);
                            #   more prompts than B run as several batches of B, all in this one run
        batch=8,            # B >= 1
        cancel=None,        # threading.Event: set it to stop; every open session ends `interrupted`
        observer=None,      # profiler.collect.RunObserver: session_started / token / session_ended hooks
        clock=None,         # profiler.clock.Clock (default PerfClock)
        sweep_id=None,      # stored on every session of the run (schema v3 sessions.sweep_id)
        cell=None,          # the sweep cell key, stored on every session (sessions.cell)
    )

`BatchRun` (a dataclass) holds:
    run_id     the `runs` row (kind 'batch') grouping every session of this call;
    status     'finished' | 'interrupted' | 'failed' (an exception still propagates after the run
               and its sessions are saved; `status` is then what was stored);
    sessions   list[BatchSession]: session_id, batch_index, repeat_index, warmup, status, tokens,
               eos_k — warm-up batches first, each batch's sessions in batch_index order;
    summary    the dict stored in runs.summary: batch, batches (measured batches), steps (measured
               decode steps), step_p50_ms / step_p95_ms / step_p99_ms / step_mean_ms (decode steps
               k >= 2 of measured batches; a step's time is every sequence's token latency),
               ttft_p50_ms (the prefill step), aggregate_tokens_per_s = batch * 1000 / step_p50_ms,
               tokens (measured tokens stored, all sequences), compile_ms (None unless --compile),
               peak_memory_mb (CUDA peak allocated, else peak RSS of this process).

Warm-up batches (settings.warmup of them) run first, flagged, left out of the summary; then GC is
frozen (settings.gc_freeze) and each prompt batch runs settings.repeat times. Invalid input raises
profiler.errors.InputError before any session is written.
"""
