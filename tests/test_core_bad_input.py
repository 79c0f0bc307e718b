"""Bad CLI input (issue 2 §6): each is one clear line, a non-zero exit, no traceback, the store unchanged."""

from __future__ import annotations

import json
import os

import pytest

from conftest import FIXTURES, cli_env, error_lines, file_digest, run_cli
from profiler.backends import ScriptedBackend
from profiler.clock import ManualClock
from profiler.collect import Collector, RunSettings
from profiler.store import SessionStore, store_path

pytestmark = pytest.mark.slow  # each test runs the CLI in a subprocess


@pytest.fixture
def filled_store(tmp_path):
    """A store holding one session, closed (checkpointed) so its bytes can be compared."""
    data_dir = tmp_path / "store"
    store = SessionStore(data_dir)
    clock = ManualClock()
    Collector(ScriptedBackend(clock=clock), store,
              RunSettings(max_new_tokens=5, ignore_eos=True, warmup=0, system_metrics=False), clock=clock).run(["kept"])
    store.close()
    return data_dir


def assert_refused(result, *words: str) -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in error_lines(result.stderr) if line.startswith("tokenlat-tui: error:")]
    assert len(errors) == 1, result.stderr
    # nothing else on stderr but the model banner, when the failure comes after the model loaded
    others = [line for line in error_lines(result.stderr) if line not in errors]
    assert all(line.startswith("model ") for line in others), result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


CASES = {
    "missing-model-folder": (["hi", "--model", "./nope"], {}, ["./nope", "not found"]),
    "offline-hub-id": (["hi", "--model", "someorg/somemodel"], {"HF_HUB_OFFLINE": "1"}, ["someorg/somemodel"]),
    "empty-prompt": ([""], {}, ["empty prompt"]),
    "blank-prompt": (["   "], {}, ["empty prompt"]),
    "no-prompt": ([], {}, ["no prompt"]),
    "max-new-tokens-0": (["hi", "--max-new-tokens", "0"], {}, ["--max-new-tokens"]),
    "prompt-longer-than-context": (["x" * 5000], {}, ["4096"]),
    "quant-8bit-without-bitsandbytes": (["hi", "--quant", "8bit"], {"PYTHONPATH": str(FIXTURES / "no_bitsandbytes")},
                                        ["--quant 8bit", "bitsandbytes", "simulated"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_collect_input_is_one_line_and_leaves_the_store_alone(filled_store, case):
    args, extra_env, words = CASES[case]
    path = store_path(filled_store)
    before = file_digest(path)
    env = cli_env(filled_store)
    if "PYTHONPATH" in extra_env:  # the shadow package must come first on the path
        extra_env = {"PYTHONPATH": os.pathsep.join([extra_env["PYTHONPATH"], env["PYTHONPATH"]])}
    env.update(extra_env)
    result = run_cli("collect", *args, "--max-new-tokens", "4", "--warmup", "0", env=env) if "--max-new-tokens" not in args \
        else run_cli("collect", *args, "--warmup", "0", env=env)
    assert_refused(result, *words)
    assert file_digest(path) == before
    sessions = json.loads(run_cli("sessions", "--json", data_dir=filled_store).stdout)
    assert [s["prompt"] for s in sessions] == ["kept"]


def test_prompt_plus_new_tokens_past_the_context_is_refused(filled_store):
    result = run_cli("collect", "y" * 4000, "--max-new-tokens", "200", "--warmup", "0", data_dir=filled_store)
    assert_refused(result, "4096", "--max-new-tokens")


def test_unwritable_data_dir_is_one_line(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_bytes(b"not a directory")
    result = run_cli("collect", "hi", "--max-new-tokens", "2", "--data-dir", str(blocker / "sub"))
    assert_refused(result, str(blocker / "sub"))
    assert blocker.read_bytes() == b"not a directory"


def test_corrupt_store_is_one_line_and_untouched(tmp_path):
    path = store_path(tmp_path / "store")
    path.parent.mkdir()
    path.write_bytes(os.urandom(10_000))
    before = file_digest(path)
    result = run_cli("collect", "hi", "--max-new-tokens", "2", data_dir=path.parent)
    assert_refused(result, str(path))
    assert file_digest(path) == before


@pytest.mark.parametrize("args, words", [
    (["--warmup", "-1"], ["--warmup"]),
    (["--repeat", "0"], ["--repeat"]),
    (["--temperature", "-0.5"], ["--temperature"]),
    (["--top-p", "0"], ["--top-p"]),
    (["--device", "tpu"], ["--device"]),
    (["--prompts", "/nonexistent/prompts.txt"], ["/nonexistent/prompts.txt"]),
    (["--model", "x", "--random-weights", "mistral-7b-v0.3"], ["--random-weights"]),
], ids=["warmup", "repeat", "temperature", "top-p", "device", "prompts-file", "model-and-random"])
def test_bad_flags_are_refused_before_any_model_loads(filled_store, args, words):
    before = file_digest(store_path(filled_store))
    result = run_cli("collect", "hi", *args, data_dir=filled_store, timeout=30)
    assert_refused(result, *words)
    assert file_digest(store_path(filled_store)) == before


def test_show_and_delete_of_an_unknown_id_are_one_line(filled_store):
    before = file_digest(store_path(filled_store))
    for args in (["show", "nosuchid"], ["delete", "nosuchid", "--yes"]):
        assert_refused(run_cli(*args, data_dir=filled_store), "nosuchid")
    assert file_digest(store_path(filled_store)) == before


def test_quant_8bit_runs_on_the_cpu_with_the_real_bitsandbytes(tmp_path):
    data_dir = tmp_path / "store"
    result = run_cli("collect", "quantised", "--quant", "8bit", "--max-new-tokens", "4", "--ignore-eos",
                     "--warmup", "0", "--json", data_dir=data_dir, timeout=300)
    assert result.returncode == 0, result.stderr
    (session,) = json.loads(result.stdout)
    assert session["quant"] == "8bit" and session["status"] == "finished" and session["tokens"] == 4
    store = SessionStore(data_dir)
    assert store.get_session(session["id"])["environment"]["quant"] == "8bit"
    # the scratch copy used for quantising the in-memory model is gone
    scratch = data_dir / "scratch"
    assert not scratch.exists() or list(scratch.iterdir()) == []
