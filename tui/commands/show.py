"""`tokenlat-tui show ID`: one session's summary, environment and token latencies."""

from __future__ import annotations

import argparse

from tui.commands.common import add_store_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    sub = subparsers.add_parser("show", help="one session in detail")
    sub.add_argument("session_id", metavar="ID", help="session id or an unambiguous prefix")
    sub.add_argument("--json", action="store_true", help="summary, environment and every token as JSON")
    sub.add_argument("--spikes", type=int, nargs="?", const=10, default=None, metavar="N",
                     help="list the N slowest decode tokens (default 10) with what was happening: GC, "
                          "forward vs sampling time, clocks, throttling")
    sub.add_argument("--breakdown", action="store_true",
                     help="the profiled pass run beside this session (collect --breakdown): ms per decode token "
                          "by operator class (median, p95) and share, per layer if it was asked for")
    sub.add_argument("--token", type=int, default=None, metavar="K",
                     help="with --breakdown: the profiled pass's step at token k, ms and share per class, beside "
                          "this session's timed token k")
    add_store_arguments(sub)
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tui.commands.common import json_safe, open_store, print_json
    from tui.session_view import session_summary_row

    from profiler.errors import InputError
    from profiler.flag_checks import MAX_SPIKES

    if args.spikes is not None and args.spikes < 1:
        raise InputError(f"--spikes must be at least 1 (got {args.spikes})")
    if args.spikes is not None and args.spikes > MAX_SPIKES:
        raise InputError(f"--spikes must be at most {MAX_SPIKES} (got {args.spikes})")
    token = getattr(args, "token", None)
    if token is not None:
        from profiler.flag_checks import MAX_NEW_TOKENS, check_range

        if not getattr(args, "breakdown", False):
            raise InputError("--token needs --breakdown (it picks one step of the profiled pass)")
        check_range("--token", token, 1, MAX_NEW_TOKENS)  # the pass's own length is checked once it is read
    store = open_store(args)
    (session_id,) = store.resolve_ids([args.session_id])
    if getattr(args, "breakdown", False):  # issue 20: tui/commands/show_breakdown.py
        from tui.commands.show_breakdown import show_breakdown

        return show_breakdown(store, session_id, as_json=args.json, token=token)
    session = store.get_session(session_id)
    tokens = store.session_tokens(session_id)
    summary = session_summary_row(session)
    spikes = None
    if args.spikes is not None:
        from model.spikes import find_spikes

        spikes = find_spikes(tokens, store.session_metrics(session_id), top=args.spikes)
    from profiler.store.chunks import remote_details
    from tui.session_view import timing_description

    remote = remote_details(store, session_id)
    if args.json:
        extra = {} if spikes is None else {"spikes": [_spike_json(s) for s in spikes]}
        if remote is not None:
            extra["remote"] = remote  # the server's facts and every chunk as it arrived
        print_json(json_safe({**summary, "settings": session["settings"], "environment": session["environment"],
                              "tokens": tokens, "token_count": summary["tokens"], **extra}))
        return 0
    if spikes is not None:
        _print_spikes(summary, spikes, session)
        return 0
    session["timing_label"] = timing_description(session)
    session["remote"] = remote
    _print_rich(summary, session, tokens)
    return 0


def _spike_json(spike) -> dict:
    return {"k": spike.k, "context_size": spike.context_size, "latency_ms": spike.latency_ms,
            "times_median": spike.times_median, "excess_ms": spike.excess_ms, "explained_ms": spike.explained_ms,
            "cpu_wait_ms": spike.cpu_wait_ms, "causes": spike.causes}


def _print_spikes(summary: dict, spikes: list, session: dict) -> None:
    from rich.console import Console

    from tui import session_view
    from tui.spike_table import spike_table, spike_title

    title = spike_title(spikes, summary["decode_p50_ms"], summary["id"])
    label = session_view.timing_label(session)  # a remote session's latencies are chunk arrival gaps
    Console().print(spike_table(spikes, f"{title} · {label}" if label else title))


def _print_rich(summary: dict, session: dict, tokens: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from profiler.printable import printable, printable_line
    from tui.session_view import TOKENS_PER_S_DEFINITION

    # Model, prompt, error, environment, server text and token text came from outside (an imported CSV,
    # a server, a model's output): every control character is made visible, and Text keeps '[bold]' literal.
    console = Console()
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    for name, value in [
        ("session", summary["id"]), ("status", summary["status"]), ("started", summary["started"]),
        ("model", f"{summary['model']} ({summary['model_label']})" if summary["model_label"] else summary["model"]),
        ("dtype / quant", f"{summary['dtype']} / {summary['quant']}"), ("device", summary["device"]),
        ("timing", session["timing_label"]),
        *_remote_rows(session["remote"]),
        ("warm-up", "yes" if summary["warmup"] else "no"), ("input tokens", summary["input_tokens"]),
        ("tokens", session["tokens"]), ("TTFT", _ms(summary["ttft_ms"])),
        ("decode p50 / p95 / p99", " / ".join(_ms(summary[k]) for k in ("decode_p50_ms", "decode_p95_ms", "decode_p99_ms"))),
        ("decode tok/s", f"{summary['tokens_per_s']:.1f}  ({TOKENS_PER_S_DEFINITION})"
         if summary["tokens_per_s"] else "–"),
        ("measured vs possible", _efficiency_line(session)),
        ("machine noise", _noise_line(session)),
        *_settle_rows(session),
        ("error", summary["error"] or ""),
    ]:
        head.add_row(name, Text(printable_line(str(value))))
    console.print(head)
    env = session["environment"]
    if env:
        keys = ("revision", "attn", "cache", "torch", "transformers", "bitsandbytes", "torch_threads", "gpu_name",
                "nvidia_driver", "host")
        console.print(Text(printable_line(
            "environment: " + ", ".join(f"{k}={env[k]}" for k in keys if env.get(k) not in (None, "")))))
    console.print(Text("prompt: " + printable(session["prompt"][:500])))
    table = Table(title=f"{len(tokens)} tokens", title_justify="left")
    for title in ("k", "context", "ms", "phase", "gc", "cpu wait ms", "text"):
        table.add_column(title, justify="left" if title in ("phase", "text") else "right")
    first, last = (tokens, []) if len(tokens) <= 40 else (tokens[:20], tokens[-20:])

    def add(token: dict) -> None:
        table.add_row(str(token["k"]), str(token["context_size"]), f"{token['latency_ms']:.3f}", token["phase"],
                      str(token["gc_collections"] or ""), _cpu_wait(token),
                      Text(repr(printable(token["token_text"] or ""))))

    for token in first:
        add(token)
    if last:
        # the gap is a row of its own: k 20 then k 181 with nothing between would read as one step
        skipped = tokens[len(first):-len(last)]
        table.add_row("…", "", "", "", "", "", Text(f"{len(skipped)} tokens not shown "
                                                    f"(k {skipped[0]['k']}–{skipped[-1]['k']})", style="dim"))
    for token in last:
        add(token)
    console.print(table)
    if len(tokens) > 40:
        console.print(f"(first and last 20 of {len(tokens)} tokens; --json or export for all)")


def _settle_rows(session: dict) -> list[tuple[str, str]]:
    """What the app changed about the run: its wait for the view before the first token (engine/settle.py)."""
    from profiler.engine.settle import settle_line

    line = settle_line((session.get("environment") or {}).get("app_settle"))
    return [("app settle", line)] if line else []


def _noise_line(session: dict) -> str:
    """What else was competing with the session (profiler/machine_noise.py), as recorded over its run."""
    from profiler.machine_noise import noisy_summary
    from profiler.printable import printable_line

    record = (session.get("environment") or {}).get("machine_noise")
    if not record:
        return "not recorded"
    noisy = noisy_summary(record)
    return f"noisy: {printable_line(noisy)}" if noisy else "quiet"


def _cpu_wait(token: dict) -> str:
    """The token's run-queue wait: '–' where it was not measured (remote, imported, older sessions)."""
    wait = token.get("cpu_wait_ms")
    return "–" if wait is None else f"{wait:.3f}"


def _remote_rows(remote: dict | None) -> list[tuple[str, str]]:
    if remote is None:
        return []
    queue = f"{remote['queue_ms']:.2f} ms" if remote["queue_ms"] is not None else "–"
    rows = [("server", f"{remote['url']} ({remote['api']} {remote['endpoint']})"),
            ("token counts", f"{remote['counted_tokens']} in {remote['chunks']} content chunks, from "
                             f"{remote['token_source'] or '–'}; server says {remote['server_tokens'] or '–'}"),
            ("client queueing", queue)]
    timing = remote["server_timing"]
    if timing:
        rows.append(("server figures", ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                                 for k, v in timing.items())))
    return rows


def _efficiency_line(session: dict) -> str:
    from tui.session_view import efficiency_or_none

    efficiency = efficiency_or_none(session)
    if efficiency is None:
        return "unknown (needs a known GPU and model)"
    return (f"median decode {efficiency.measured_ms:.2f} ms vs floor {efficiency.floor_ms:.2f} ms on {efficiency.gpu} "
            f"at context {efficiency.context}: {efficiency.fraction:.0%} of memory bandwidth")


def _ms(value) -> str:
    return f"{value:.2f} ms" if value is not None else "–"
