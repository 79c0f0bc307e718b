"""`collect --breakdown`: a profiled pass grouped by operator class, stored apart from the timed sessions.

Real parts: the embedded model, tiny Llama and Qwen2 models built from the shipped architectures
(small widths, random weights, the real transformers classes), torch.profiler itself, real SQLite
stores and the CLI's entry point in-process.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from profiler.architectures import load_architecture
from profiler.backends import BackendOptions, load_backend
from profiler.backends.base import SamplingSettings
from profiler.backends.byte_tokenizer import BOS_ID, EOS_ID, PAD_ID
from profiler.breakdown import CLASSES, class_rows, run_profiled_pass
from profiler.breakdown.summary import decode_steps, step_figures
from profiler.store import SessionStore
from tui.cli import main


def test_on_the_embedded_model_classes_add_up_to_the_step_and_attention_and_mlp_lead(embedded_backend):
    ids = embedded_backend.encode("where does the time of a decode step go?")
    result = run_profiled_pass(embedded_backend, ids, SamplingSettings(), max_new_tokens=12, ignore_eos=True)
    steps = decode_steps(result)
    assert len(steps) == 11 and result["device"] == "cpu" and result["activities"] == ["cpu"]
    figures = step_figures(result)
    # the classes account for the step as the clock around it saw it, within 10 %
    assert abs(figures["classes_ms"] - figures["step_ms"]) <= 0.10 * figures["step_ms"]
    for step in steps:
        assert sum(step["classes"].values()) <= step["step_ns"] / 1e6  # the profiler's range lies inside the clock's
    rows = {row.name: row for row in class_rows(result)}
    assert list(rows) == list(CLASSES)
    largest = sorted(rows.values(), key=lambda row: row.share, reverse=True)
    assert {largest[0].name, largest[1].name} == {"attention", "MLP"}
    assert sum(row.share for row in rows.values()) == pytest.approx(1.0)
    for row in rows.values():
        assert 0 <= row.median_ms <= row.p95_ms


def tiny_config(tmp_path, preset: str):
    """The shipped architecture at small widths, with the byte tokenizer's special ids."""
    config = load_architecture(preset)
    grouped = config["num_key_value_heads"] < config["num_attention_heads"]
    config.update(num_hidden_layers=2, hidden_size=64, intermediate_size=96, num_attention_heads=4,
                  num_key_value_heads=2 if grouped else 4, head_dim=16, vocab_size=300, bos_token_id=BOS_ID,
                  eos_token_id=EOS_ID, pad_token_id=PAD_ID)
    path = tmp_path / f"{preset}.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("preset", ["llama-3-8b", "qwen2.5-0.5b"])
def test_on_tiny_llama_and_qwen2_every_operator_lands_in_exactly_one_class(preset, tmp_path):
    backend = load_backend(BackendOptions(random_weights=str(tiny_config(tmp_path, preset)), device="cpu",
                                          dtype="float32", data_dir=str(tmp_path)))
    try:
        result = run_profiled_pass(backend, backend.encode("tiny"), SamplingSettings(), max_new_tokens=4,
                                   ignore_eos=True, layers=True, keep_operators=True)
    finally:
        backend.close()
    operators = result["operator_classes"]
    assert operators and {kind for _k, _name, kind in operators} <= set(CLASSES)
    # one class per operator: the per-step counts are exactly the operators, each counted once
    counted = Counter()
    for step in result["steps"]:
        counted.update({(step["k"], kind): n for kind, n in step["operators"].items()})
    assert counted == Counter((k, kind) for k, _name, kind in operators)
    # the model's own structure was found: the matrix products are its projections, the embedding lookup
    # is the embeddings', the argmax is sampling's
    by_name: dict[str, set[str]] = {}
    for _k, name, kind in operators:
        by_name.setdefault(name, set()).add(kind)
    assert {"attention", "MLP", "lm_head"} <= by_name["aten::linear"]
    assert by_name["aten::embedding"] == {"embeddings"}
    assert by_name["aten::argmax"] == {"sampling"}
    assert "norms" in {kind for _k, _name, kind in operators}
    layers = {label for step in result["steps"] for label in step["labels"]}
    assert {"attention[0]", "attention[1]", "MLP[0]", "MLP[1]", "norms[0]", "norms[1]"} <= layers


def sessions_as_run(store: SessionStore) -> list[tuple]:
    """What a run's sessions are, without their ids and times."""
    return sorted((s["warmup"], s["repeat_index"], s["tokens"], s["input_tokens"], s["prompt"],
                   json.dumps(store.get_session(s["id"])["settings"], sort_keys=True), s["config"])
                  for s in store.list_sessions())


def collect(tmp_path, name: str, capsys, *extra: str) -> SessionStore:
    data_dir = tmp_path / name
    code = main(["collect", "a breakdown, please", "--max-new-tokens", "8", "--ignore-eos", "--warmup", "1",
                 "--repeat", "2", "--json", "--data-dir", str(data_dir), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return SessionStore(data_dir)


def test_collect_with_breakdown_keeps_the_timed_sessions_and_stores_the_pass_apart(tmp_path, capsys):
    plain = collect(tmp_path, "plain", capsys)
    profiled = collect(tmp_path, "profiled", capsys, "--breakdown")
    assert sessions_as_run(profiled) == sessions_as_run(plain)  # same count, same settings, same tokens
    measured = [s["id"] for s in profiled.list_sessions() if not s["warmup"]]
    assert main(["show", measured[0], "--breakdown", "--json", "--data-dir", str(tmp_path / "profiled")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["sessions"]) == sorted(measured) and "not a timed session" in report["label"]
    assert [row["name"] for row in report["classes"]] == list(CLASSES)
    assert report["step_ms"] > 0 and report["timed_decode_p50_ms"] > 0
    # the table: every class with median, p95 and share, and the profiler's cost beside the timed median
    assert main(["show", measured[1][:8], "--breakdown", "--data-dir", str(tmp_path / "profiled")]) == 0
    text = capsys.readouterr().out
    for name in CLASSES:
        assert f"│ {name}" in text
    assert "timed sessions' median" in text and "the profiler adds" in text
    # the warm-up has no pass; a run without --breakdown has none either: one line each
    warmup = next(s["id"] for s in profiled.list_sessions() if s["warmup"])
    for data_dir, session_id in ((tmp_path / "profiled", warmup), (tmp_path / "plain", plain.list_sessions()[0]["id"])):
        assert main(["show", session_id, "--breakdown", "--data-dir", str(data_dir)]) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and "no profiled pass" in lines[0] and "--breakdown" in lines[0]


def test_the_trace_export_shows_the_profiled_pass_as_its_own_process(tmp_path, capsys):
    from trace_checks import assert_nesting_valid, load_trace, ns, process_names, slices

    store = collect(tmp_path, "traced", capsys, "--breakdown", "layers")
    measured = [s["id"] for s in store.list_sessions() if not s["warmup"]]
    out = tmp_path / "pass.json"
    assert main(["export", *measured, "--trace", "-o", str(out), "--data-dir", str(tmp_path / "traced")]) == 0
    capsys.readouterr()
    trace = load_trace(out)
    assert_nesting_valid(trace)
    (pid,) = [pid for pid, name in process_names(trace).items() if name.startswith("profiled pass")]
    steps = [e for e in slices(trace) if e["pid"] == pid and e["cat"] == "profiled"]
    inner = [e for e in slices(trace) if e["pid"] == pid and e["cat"] == "operator_class"]
    assert len(steps) == 8 and {"attention[0]", "MLP[0]", "lm_head"} <= {e["name"] for e in inner}
    for event in inner:  # each module range lies inside its step
        step = next(s for s in steps if s["args"]["k"] == event["args"]["k"])
        assert ns(step["ts"]) <= ns(event["ts"])
        assert ns(event["ts"]) + ns(event["dur"]) <= ns(step["ts"]) + ns(step["dur"])
    assert list(trace["otherData"]["profiled_passes"].values())[0]["sessions"]


def test_breakdown_is_refused_with_batch_or_server_in_one_line(capsys):
    for extra in (["--batch", "2"], ["--server", "http://127.0.0.1:9"]):
        assert main(["collect", "x", "--breakdown", *extra]) == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and "--breakdown" in lines[0]
