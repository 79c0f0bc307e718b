"""`tokenlat-tui fit`: fit latency models to stored sessions and show how well they predict.

Honest by default: whole prompts are held out (grouped), first token and decode are reported
apart, and the noise floor of repeated runs says how much error is left to remove.
"""

from __future__ import annotations

import argparse
import sys

from tui.commands.common import add_store_arguments, json_safe, open_store, print_json

PROTOCOL_HELP = {
    "grouped": "hold out whole prompts (leave-one-prompt-out up to 10, else GroupKFold)",
    "extrapolate": "train on contexts <= --train-max-context, test beyond it",
    "seed": "the seed study's random 80/20 token split (reproduces its table; flatters every model)",
}


def add_parser(subparsers) -> None:
    sub = subparsers.add_parser(
        "fit", help="fit latency models to sessions and report held-out errors",
        description="Fit latency predictors to stored sessions (default: every non-warm-up session of the newest "
                    "session's configuration) and show their held-out errors side by side.")
    add_store_arguments(sub)
    sub.add_argument("session_ids", nargs="*", metavar="SESSION_ID", help="sessions to fit (ids or unique prefixes)")
    sub.add_argument("--protocol", choices=list(PROTOCOL_HELP), default="grouped",
                     help="; ".join(f"{name}: {text}" for name, text in PROTOCOL_HELP.items()) + " (default: grouped)")
    sub.add_argument("--predictor", action="append", metavar="NAME",
                     help="phase (default model), ridge (the seed's), buckets; repeat or comma-separate (default: all)")
    sub.add_argument("--train-max-context", type=int, metavar="X",
                     help="extrapolate: train on contexts <= X (default: half the longest context)")
    sub.add_argument("--test-max-context", type=int, metavar="Y", help="extrapolate: test contexts X < c <= Y only")
    roofline = sub.add_argument_group("roofline units for the phase predictor (all three, or none)")
    roofline.add_argument("--weight-bytes", type=float, metavar="BYTES")
    roofline.add_argument("--kv-bytes-per-token", type=float, metavar="BYTES")
    roofline.add_argument("--bandwidth-gbs", type=float, metavar="GB/S", help="device memory bandwidth, 1e9 bytes/s")
    sub.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    sub.add_argument("--save", metavar="FILE", help="also fit the first --predictor on all the sessions and save it as JSON")
    sub.add_argument("--force", action="store_true",
                     help="with --save: replace an existing regular file (never a link, device or FIFO)")
    sub.add_argument("--load", metavar="FILE",
                     help="score a saved model on the sessions instead of fitting (refuses another configuration)")
    sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from model.predictors import PREDICTORS, predictor_class  # deferred: pandas/numpy load with them

    from profiler.errors import InputError

    if args.load and args.save:
        raise InputError("--load scores a saved model and --save fits a new one: give one of them")
    from profiler.flag_checks import MAX_CONTEXT, check_range

    for flag, value in (("--train-max-context", args.train_max_context), ("--test-max-context", args.test_max_context)):
        if value is not None:
            check_range(flag, value, 1, MAX_CONTEXT)
    names = _predictor_names(args.predictor, list(PREDICTORS))
    for name in names:
        predictor_class(name)  # an unknown name is one clear line, before any work
    roofline = _roofline(args)
    saved = _load_saved(args.load) if args.load else None  # a bad model file is refused before any store work
    if args.save:
        from pathlib import Path

        from profiler.export_target import FILE_HINT, check_writable_target

        # refused before any fitting; the writer looks again when it renames (export_target.publish)
        check_writable_target(Path(args.save).expanduser(), force=args.force, hint=FILE_HINT)
    frame, note = _select_frame(args)
    if saved is not None:
        report = _score_saved(frame, saved, args.load)
    else:
        report = _evaluate(frame, names, args, roofline)
        if args.save:
            from model.fitted import fit_predictor
            from model.saved import save_model

            report["saved"] = str(save_model(fit_predictor(frame, names[0], roofline=roofline), args.save,
                                             force=args.force))
    if args.json:
        if note:
            from profiler.printable import printable_line

            print(f"tokenlat-tui: {printable_line(note)}", file=sys.stderr)
        print_json(json_safe(report))
    else:
        _print_table(report, note)
    return 0


def _predictor_names(given: list[str] | None, available: list[str]) -> list[str]:
    if not given:
        return available
    names = [name.strip() for item in given for name in item.split(",") if name.strip()]
    if not names:
        from profiler.errors import InputError

        raise InputError(f"--predictor names no predictor; choose from {', '.join(available)}")
    return list(dict.fromkeys(names))


def _roofline(args: argparse.Namespace):
    import math

    import numpy as np

    values = (args.weight_bytes, args.kv_bytes_per_token, args.bandwidth_gbs)
    if all(v is None for v in values):
        return None
    from profiler.errors import InputError

    if any(v is None for v in values):
        raise InputError("roofline units need all of --weight-bytes, --kv-bytes-per-token and --bandwidth-gbs")
    from model.predictors import RooflineUnits
    from profiler.flag_checks import check_finite

    for flag, value in zip(("--weight-bytes", "--kv-bytes-per-token", "--bandwidth-gbs"), values):
        check_finite(flag, value)  # argparse's float() takes nan and inf; the fit would fail on them
    try:
        units = RooflineUnits(args.weight_bytes, args.kv_bytes_per_token, args.bandwidth_gbs * 1e9)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is the answer here, not a warning
        floors = units.decode_floor_ms(np.array([1.0, 1e7]))
    if not all(map(math.isfinite, floors)):
        raise InputError("--weight-bytes / --bandwidth-gbs give a decode floor beyond any number of ms; "
                         "check the units (bytes, and GB/s = 1e9 bytes/s)")
    return units


def _select_frame(args: argparse.Namespace):
    """The token frame to fit, and a note when sessions of other configurations were left out."""
    from model.frame import configurations, describe_fingerprint, fingerprint, prepare, row_fingerprints
    from profiler.errors import InputError

    store = open_store(args)
    ids = store.resolve_ids(args.session_ids) if args.session_ids else None
    # named sessions are used even if they were warm-ups: the user asked for them
    frame = store.tokens_frame(ids, include_warmup=ids is not None)
    if frame.empty:
        if ids:
            raise InputError("the given sessions have no tokens")
        raise InputError(f"no sessions to fit in {store.path}; collect or import some first")
    frame = prepare(frame)
    found = configurations(frame)
    if len(found) == 1:
        return frame, None
    if ids:
        fingerprint(frame)  # raises: named sessions of several configurations can't be fitted together
    # several configurations in the store: fit the newest session's (tokens are oldest session first)
    chosen = row_fingerprints(frame.tail(1))[0]
    keep = [key == chosen for key in row_fingerprints(frame)]
    kept = frame[keep].reset_index(drop=True)
    left_out = frame.loc[[not k for k in keep], "Prompt_ID"].nunique()
    note = (f"fitting the newest session's configuration ({describe_fingerprint(fingerprint(kept))}); "
            f"{left_out} session(s) of {len(found) - 1} other configuration(s) left out: name sessions to choose")
    return kept, note


def _evaluate(frame, names: list[str], args: argparse.Namespace, roofline) -> dict:
    from model.session_fit import evaluate_sessions  # the app's prediction panel fits through it too
    from model.splits import default_train_max_context

    train_max = args.train_max_context
    if args.protocol == "extrapolate" and train_max is None:
        train_max = default_train_max_context(frame)
    _, report = evaluate_sessions(frame, names, args.protocol, train_max_context=train_max,
                                  test_max_context=args.test_max_context, roofline=roofline)
    return report


def _load_saved(path: str):
    from model.saved import load_model

    return load_model(path)


def _score_saved(frame, fitted, path: str) -> dict:
    import numpy as np

    from model.evaluation import SCOPES, Evaluation
    from model.frame import fingerprint, is_first_token
    from model.metrics import error_metrics
    from model.repeats import noise_floor
    from model.report import fit_report

    predicted = fitted.predict_frame(frame)  # raises ConfigurationMismatch for another configuration
    actual = frame["Per_Token_Latency_ms"].to_numpy(float)
    first = is_first_token(frame)
    rows = {"all": np.ones(len(frame), bool), "prefill": first, "decode": ~first}
    metrics = {scope: error_metrics(actual[rows[scope]], predicted[rows[scope]]) for scope in SCOPES}
    evaluation = Evaluation(fitted.name, "saved", metrics, fitted, 0, predicted)
    return fit_report([evaluation], noise_floor(frame), protocol="saved", fingerprint=fingerprint(frame),
                      sessions=list(dict.fromkeys(frame["Prompt_ID"])), tokens=len(frame), model_file=path)


# -- the table


def _print_table(report: dict, note: str | None) -> None:
    from rich.table import Table
    from rich.text import Text

    from model.frame import describe_fingerprint
    from profiler.printable import printable_line
    from tui.commands.common import stdout_console

    # the configuration (model, quant, device) and file names came from outside: controls made visible
    console = stdout_console()
    if note:
        console.print(Text(printable_line(note), style="yellow"))
    console.print(Text(printable_line(f"{describe_fingerprint(report['configuration'])}: {len(report['sessions'])} "
                                      f"session(s), {report['tokens']} tokens; {_protocol_line(report)}")))
    # the seed protocol's table is published to 4 decimals; elsewhere ms to 2 is plenty
    digits = 4 if report["protocol"] == "seed" else 2
    errors = Table(title=_errors_title(report["protocol"]), title_justify="left")
    for header in ("predictor", "MAE", "RMSE", "MAPE", "p90 |err|", "p99 |err|", "first-token MAE", "decode MAE"):
        errors.add_column(header, justify="left" if header == "predictor" else "right")
    for name, figures in report["predictors"].items():
        overall = {k: figures[k] for k in ("mae", "rmse", "mape", "p90_abs", "p99_abs")}
        errors.add_row(name, *_metric_cells(overall, figures["by_phase"], digits))
    floor = report["noise_floor"]
    if floor and floor.get("all"):
        errors.add_row("noise floor", *_metric_cells(floor["all"], floor, digits), style="dim")
    console.print(errors)
    if not floor:
        console.print(Text("no noise floor: no prompt was run more than once on this configuration "
                           "(collect with --repeat 3)", style="dim"))
    terms = Table(title="fitted terms, in ms (slopes: ms per token)", title_justify="left")
    for header in ("predictor", "term", "value", "unit"):
        terms.add_column(header, justify="right" if header == "value" else "left")
    for name, figures in report["predictors"].items():
        rows = _natural_terms(figures) or [("no terms: medians per context bucket", "", "")]
        for index, (term, value, unit) in enumerate(rows):
            terms.add_row(name if index == 0 else "", term, value, unit, end_section=index == len(rows) - 1)
    console.print(terms)
    for name, figures in report["predictors"].items():
        if figures["coefficients"] and name == "ridge":
            # the seed study publishes its Ridge in standardised units: kept for comparing with its table
            console.print(Text(f"{name} as the study reports it (standardised): intercept "
                               f"{_number(figures['intercept'], 4)}, {_terms(figures['coefficients'])}", style="dim"))
    if report.get("saved"):
        console.print(Text(printable_line(f"saved the {next(iter(report['predictors']))} model to {report['saved']}")))


def _errors_title(protocol: str) -> str:
    # a saved model is scored on every token it is given: none of them was held out of its fit here
    return "error on every token, ms" if protocol == "saved" else "held-out error, ms"


def _protocol_line(report: dict) -> str:
    protocol = report["protocol"]
    if protocol == "saved":
        return f"saved model {report.get('model_file')} scored on every token"
    if protocol == "extrapolate":
        upper = report.get("test_max_context")
        tested = f"{report['train_max_context']} < context" + (f" <= {upper}" if upper else "")
        return f"trained on context <= {report['train_max_context']}, tested on {tested}"
    return PROTOCOL_HELP[protocol]


def _metric_cells(overall: dict, by_phase: dict, digits: int) -> list[str]:
    prefill, decode = by_phase.get("prefill"), by_phase.get("decode")
    mape = overall.get("mape")
    return [_number(overall.get("mae"), digits), _number(overall.get("rmse"), digits),
            "-" if mape is None else f"{mape * 100:.1f}%", _number(overall.get("p90_abs"), 2),
            _number(overall.get("p99_abs"), 2), _number(prefill and prefill["mae"], 2),
            _number(decode and decode["mae"], 2)]


def _terms(values: dict) -> str:
    return ", ".join(f"{name} {_number(value, 4, signed=True)}" for name, value in values.items()) or "-"


def _natural_terms(figures: dict) -> list[tuple[str, str, str]]:
    """(term, value, unit) rows as the app shows them, plus a roofline fit's bandwidth fraction."""
    rows = [(t["name"], _number(t["value"], 4), t["unit"]) for t in figures.get("terms") or []]
    fraction = (figures.get("derived") or {}).get("achieved_bandwidth_fraction")
    if fraction is not None:
        rows.append(("achieved bandwidth", f"{fraction:.1%}", "of the roofline"))
    return rows


def _number(value, digits: int, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
