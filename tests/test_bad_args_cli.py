"""The arguments of issue 8 §6 end to end: a real `tokenlat-tui` subprocess prints one line, exits 2 and
stores nothing (slow: each starts an interpreter, some import torch or load the embedded model)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, cli_env, error_lines, run_cli, table_rows
from profiler.backends.embedded import EMBEDDED_CONFIG
from profiler.store import SessionStore

pytestmark = pytest.mark.slow

GIB = 1024**3


def assert_one_line(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("tokenlat-tui: error: "), result.stderr
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def assert_nothing_stored(data_dir) -> None:
    assert SessionStore(data_dir).list_sessions() == []


@pytest.mark.parametrize("args, words", [
    (["--temperature", "nan"], ["--temperature", "nan"]),
    (["--top-p", "nan"], ["--top-p", "nan"]),
    (["--seed", "99999999999999999999"], ["--seed", "99999999999999999999"]),
    (["--temperature", "0.7", "--seed", str(2**64)], ["--seed"]),
])
def test_bad_sampling_flags_are_one_line(tmp_path, args, words):
    assert_one_line(run_cli("collect", "x", "--max-new-tokens", "2", "--warmup", "0", *args, data_dir=tmp_path),
                    *words)
    assert_nothing_stored(tmp_path)


def test_flash_attention_without_the_package_is_one_line(tmp_path):
    pytest.importorskip("torch")
    if __import__("importlib.util").util.find_spec("flash_attn") is not None:
        pytest.skip("flash-attn is installed here")
    result = run_cli("collect", "x", "--max-new-tokens", "2", "--attn", "flash_attention_2", data_dir=tmp_path)
    assert_one_line(result, "flash_attention_2")
    assert_nothing_stored(tmp_path)


def limited_address_space() -> None:
    """If the memory check ever let llama-3-70b through, the build fails at 4 GiB instead of the OOM
    killer taking a shared machine's memory (the refusal itself needs less than 3 GiB)."""
    resource.setrlimit(resource.RLIMIT_AS, (4 * GIB, 4 * GIB))


def test_a_model_larger_than_memory_is_refused_before_it_is_built(tmp_path):
    import psutil

    from profiler.architectures import load_architecture
    from profiler.backends.memory_check import weights_plan

    needed = weights_plan(load_architecture("llama-3-70b"), "llama-3-70b", "cpu", random_weights=True) \
        .host_bytes("float32", "none")
    if psutil.virtual_memory().available > needed:
        pytest.skip("this machine has room for llama-3-70b in float32")
    result = subprocess.run([sys.executable, "-m", "tui", "collect", "x", "--random-weights", "llama-3-70b",
                             "--device", "cpu", "--max-new-tokens", "2", "--warmup", "0"],
                            cwd=REPO_ROOT, env=cli_env(tmp_path), capture_output=True, text=True, timeout=120,
                            preexec_fn=limited_address_space)
    line = assert_one_line(result, "llama-3-70b", f"{needed / GIB:.1f} GiB of CPU RAM", "GiB is available",
                           "a GPU", "--skip-memory-check")
    assert "MemoryError" not in line and "allocate" not in line
    assert_nothing_stored(tmp_path)


def test_4bit_on_a_hidden_size_the_cpu_kernel_cant_block(tmp_path):
    """On a CPU with AVX512-BF16 bitsandbytes asserts 'N must be divisible by block_n' mid-run: refused
    first instead. Other CPUs run it (this checks the refusal isn't raised where the kernel copes)."""
    bitsandbytes_functional = pytest.importorskip("bitsandbytes.functional")
    config = dict(EMBEDDED_CONFIG, hidden_size=200, num_attention_heads=4, num_key_value_heads=4, head_dim=64,
                  intermediate_size=512, num_hidden_layers=2)
    path = tmp_path / "odd-hidden.json"
    path.write_text(json.dumps(config))
    data_dir = tmp_path / "store"
    result = run_cli("collect", "x", "--random-weights", str(path), "--quant", "4bit", "--device", "cpu",
                     "--max-new-tokens", "3", "--ignore-eos", "--warmup", "0", "--json", data_dir=data_dir,
                     timeout=300)
    if bitsandbytes_functional.has_avx512bf16():
        assert_one_line(result, "hidden_size 200", "multiple of 32")
        assert_nothing_stored(data_dir)
    else:
        assert result.returncode == 0, result.stderr
        (session,) = json.loads(result.stdout)
        assert session["status"] == "finished" and session["quant"] == "4bit" and session["tokens"] == 3


def test_collect_json_and_sessions_table_agree_for_a_warmup_session(tmp_path):
    result = run_cli("collect", "agree", "--max-new-tokens", "4", "--ignore-eos", "--warmup", "1", "--json",
                     data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    collected = json.loads(result.stdout)
    table = table_rows(run_cli("sessions", data_dir=tmp_path).stdout)
    assert [s["warmup"] for s in collected] == [True, False]
    for session in collected:
        row = table[session["id"][:8]]
        assert int(row["tokens"]) == session["tokens"] == 4 and (row["warm-up"] == "yes") == session["warmup"]
        assert session["measured_tokens"] == (0 if session["warmup"] else 4)


def test_skip_memory_check_loads_anyway_and_running_out_is_still_one_line(tmp_path):
    """The override really skips the check: the build starts, meets the 4 GiB address-space limit and
    says it ran out of memory (one line, not the allocator's traceback)."""
    result = subprocess.run([sys.executable, "-m", "tui", "collect", "x", "--random-weights", "llama-3-70b",
                             "--device", "cpu", "--skip-memory-check", "--max-new-tokens", "2", "--warmup", "0"],
                            cwd=REPO_ROOT, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300,
                            preexec_fn=limited_address_space)
    line = assert_one_line(result, "out of memory building the model on cpu")
    assert "--skip-memory-check" not in line
    assert_nothing_stored(tmp_path)


def test_the_loaded_models_own_4bit_layers_are_checked_exactly(tmp_path):
    """The after-loading check reads the real bitsandbytes layers (any architecture), named by module.
    The CPU capability is passed in: this machine's answer decides only the CLI test above."""
    pytest.importorskip("bitsandbytes")
    from profiler.backends import BackendOptions, load_backend
    from profiler.backends.bnb_layout import check_cpu_4bit_layout, loaded_4bit_layers
    from profiler.errors import BackendError

    config = dict(EMBEDDED_CONFIG, hidden_size=200, num_attention_heads=4, num_key_value_heads=4, head_dim=64,
                  intermediate_size=512, num_hidden_layers=2)
    path = tmp_path / "odd-hidden.json"
    path.write_text(json.dumps(config))
    try:
        backend = load_backend(BackendOptions(random_weights=str(path), quant="4bit", device="cpu",
                                              data_dir=str(tmp_path / "data")))
    except BackendError as refused:  # this CPU repacks: the before-building check already said no
        assert "hidden_size 200" in str(refused)
        return
    layers = loaded_4bit_layers(backend.model)
    assert {name.rsplit(".", 1)[-1] for name, _o, _i in layers} == {"q_proj", "k_proj", "v_proj", "o_proj",
                                                                     "gate_proj", "up_proj", "down_proj"}
    with pytest.raises(BackendError, match=r"model\.layers\.0\.self_attn\.o_proj has 200 outputs"):
        check_cpu_4bit_layout(layers, "odd", packs_for_avx512_bf16=True)
    backend.close()


HOSTILE_CONFIGS = {
    "string-hidden-size": ({"hidden_size": "abc"}, ["hidden_size", "expected int"]),
    "fractional-hidden-size": ({"hidden_size": 512.5}, ["hidden_size"]),
    "negative-vocab": ({"vocab_size": -1}, ["can't be built"]),
    "odd-rotary-dimension": ({"num_attention_heads": 7, "head_dim": 73}, ["rotary"]),
    "kv-heads-not-dividing": ({"num_key_value_heads": 3}, ["num_attention_heads (8)", "num_key_value_heads (3)"]),
}


@pytest.mark.parametrize("case", list(HOSTILE_CONFIGS))
def test_a_random_weights_config_transformers_cant_build_is_one_line(tmp_path, case):
    """Each was a traceback (TypeError, AssertionError, a validation error) or, for KV heads that don't
    divide the heads, a 'failed' session from an error in the first forward pass."""
    change, words = HOSTILE_CONFIGS[case]
    path = tmp_path / f"{case}.json"
    path.write_text(json.dumps({**EMBEDDED_CONFIG, **change}))
    data_dir = tmp_path / "store"
    result = run_cli("collect", "x", "--random-weights", str(path), "--max-new-tokens", "2", "--warmup", "0",
                     data_dir=data_dir)
    assert_one_line(result, case, *words)
    assert_nothing_stored(data_dir)
