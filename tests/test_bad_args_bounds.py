"""Issue 22, arguments without bounds: every local numeric flag has a stated range (profiler/flag_checks.py)
checked before any work; a file argument has a size limit; `--random-weights ''` is refused. Each is one
line, exit 2, no traceback, nothing stored.

`--batch 1000000000` used to hang allocating, `show ID --spikes 1000000000000` was accepted, and
`--random-weights ''` silently ran the embedded model.
"""

from __future__ import annotations

import pytest

from conftest import assert_one_error_line, run_cli
from profiler.backends import BackendOptions
from profiler.backends.base import SamplingSettings
from profiler.collect import RunSettings
from profiler.errors import InputError
from profiler.flag_checks import (MAX_BATCH, MAX_LIST_VALUES, MAX_NEW_TOKENS, MAX_PROMPT_COUNT, MAX_REPEAT,
                                  MAX_SPIKES, MAX_WARMUP)
from profiler.store import store_path
from tui.cli import main


def refusal(capsys, *argv: str) -> str:
    """Run the CLI in-process; the one `tokenlat-tui: error:` line it printed (exit 2, nothing else)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    result = type("Result", (), {"returncode": code, "stderr": captured.err, "stdout": captured.out})
    assert_one_error_line(result)
    assert captured.out == ""
    return captured.err.strip()


def test_the_stated_maxima_themselves_are_accepted():
    RunSettings(max_new_tokens=MAX_NEW_TOKENS, warmup=MAX_WARMUP, repeat=MAX_REPEAT,
                sampling=SamplingSettings()).validate()
    BackendOptions(batch=MAX_BATCH).validate()
    for settings in (dict(max_new_tokens=MAX_NEW_TOKENS + 1), dict(warmup=MAX_WARMUP + 1),
                     dict(repeat=MAX_REPEAT + 1)):
        with pytest.raises(InputError, match="at most"):
            RunSettings(sampling=SamplingSettings(), **settings).validate()
    with pytest.raises(InputError, match=f"--batch must be at most {MAX_BATCH}"):
        BackendOptions(batch=MAX_BATCH + 1).validate()


@pytest.mark.slow
@pytest.mark.parametrize("args, words", [
    (["--batch", "1000000000"], ["--batch", str(MAX_BATCH), "1000000000"]),
    (["--max-new-tokens", "1000000000"], ["--max-new-tokens", str(MAX_NEW_TOKENS)]),
    (["--repeat", "1000000000"], ["--repeat", str(MAX_REPEAT)]),
    (["--warmup", "1000000000"], ["--warmup", str(MAX_WARMUP)]),
    (["--random-weights", ""], ["--random-weights", "empty"]),
    (["--random-weights", "  "], ["--random-weights", "empty"]),
    (["--prompts", "/dev/zero"], ["/dev/zero", "MiB"]),
], ids=["batch", "max-new-tokens", "repeat", "warmup", "random-weights-empty", "random-weights-blank",
        "prompts-dev-zero"])
def test_collect_flags_out_of_range_are_one_line_before_any_work(tmp_path, args, words):
    """A real subprocess with a timeout: the old code hung (--batch) or ran a model nobody asked for."""
    result = run_cli("collect", "x", "--max-new-tokens", "2", "--warmup", "0", *args, data_dir=tmp_path, timeout=90)
    assert_one_error_line(result, *words)
    assert result.stdout == ""
    assert not store_path(tmp_path).exists()  # nothing stored: the store was never even opened


def test_spikes_has_an_upper_bound(capsys, private_data_dir):
    line = refusal(capsys, "show", "0000", "--spikes", "1000000000000")
    assert "--spikes" in line and str(MAX_SPIKES) in line
    assert not store_path(private_data_dir).exists()


@pytest.mark.parametrize("argv, words", [
    (["sweep", "--batch", "1,1000000000"], ["--batch", str(MAX_BATCH)]),
    (["sweep", "--max-new-tokens", "8,1000000000"], ["--max-new-tokens", str(MAX_NEW_TOKENS)]),
    (["sweep", "--batch", ",".join(str(b) for b in range(1, MAX_LIST_VALUES + 2))], ["--batch", str(MAX_LIST_VALUES)]),
    (["sweep", "--batch", "1," * 10**6 + "1"], ["--batch", str(MAX_LIST_VALUES)]),
    (["sweep", "--precision", ",".join(["fp32"] * (MAX_LIST_VALUES + 1))], ["--precision", str(MAX_LIST_VALUES)]),
    (["sweep", "--prompt-count", "1000000000"], ["--prompt-count", str(MAX_PROMPT_COUNT)]),
    (["sweep", "--warmup", "1000000000"], ["--warmup", str(MAX_WARMUP)]),
    (["sweep", "--repeat", "1000000000"], ["--repeat", str(MAX_REPEAT)]),
    (["sweep", "--configs", "x", "--config-file", "/dev/zero"], ["/dev/zero", "MiB"]),
    (["fit", "--protocol", "extrapolate", "--train-max-context", "-1"], ["--train-max-context"]),
    (["fit", "--protocol", "extrapolate", "--test-max-context", "0"], ["--test-max-context"]),
], ids=["sweep-batch", "sweep-lengths", "sweep-list-too-long", "sweep-list-of-a-million", "sweep-names-too-long",
        "sweep-prompt-count", "sweep-warmup", "sweep-repeat", "sweep-config-file-dev-zero", "fit-train-context",
        "fit-test-context"])
def test_sweep_and_fit_flags_out_of_range_are_one_line(capsys, private_data_dir, argv, words):
    line = refusal(capsys, *argv)
    assert all(word in line for word in words), line
    assert not store_path(private_data_dir).exists()


def test_a_prompt_set_file_past_the_limit_is_refused_unread(tmp_path):
    from profiler.flag_checks import MAX_PROMPTS_FILE_BYTES
    from profiler.prompt_sets import load_prompt_set

    big = tmp_path / "big.txt"
    with big.open("wb") as file:
        file.truncate(MAX_PROMPTS_FILE_BYTES + 1)  # sparse: no disk spent
    with pytest.raises(InputError, match="MiB"):
        load_prompt_set(str(big))
