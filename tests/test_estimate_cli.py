"""`tokenlat-tui estimate` in real subprocesses: output, flag order, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, cli_env, error_lines, run_cli

pytestmark = pytest.mark.slow  # each test runs the CLI in subprocesses


def _json(*args: str) -> dict:
    done = run_cli("estimate", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_json_object_with_the_issues_fields_and_costs():
    result = _json("--model", "mistral-7b", "--gpu", "H100", "--price-per-gpu-hour", "2",
                   "--api-price-in", "0.5", "--api-price-out", "1.5")
    assert result["kv_cache_bytes_per_token"] == 131_072
    assert result["weights_bytes"] / 1e9 == pytest.approx(14.5, abs=0.05)
    assert result["decode_ms_per_token_floor"] == pytest.approx(4.3, rel=0.02)
    assert result["fits"] is True and result["max_context"] > 0 and result["max_batch"] > 0
    assert result["prefill_ms_floor"] > 0
    for cost in ("gpu_cost_per_request_usd_floor", "gpu_cost_per_million_output_tokens_usd_floor",
                 "api_cost_per_request_usd", "api_cost_per_million_output_tokens_usd"):
        assert result[cost] > 0


def test_model_flag_before_or_after_the_subcommand():
    # the root parser has its own --model/--dtype/--quant (for the backend): both orders must work
    after = _json("--model", "llama-2-7b", "--gpu", "A100-80GB", "--dtype", "float16", "--quant", "8bit")
    before = subprocess.run([sys.executable, "-m", "tui", "--model", "llama-2-7b", "--dtype", "float16",
                             "--quant", "8bit", "estimate", "--gpu", "A100-80GB", "--json"],
                            cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True, timeout=60)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout) == after
    assert (after["model"], after["dtype"], after["quant"]) == ("llama-2-7b", "float16", "8bit")


def test_does_not_fit_in_bf16_fits_in_4bit_on_rtx_4060():
    assert _json("--model", "mistral-7b", "--gpu", "RTX 4060")["fits"] is False
    assert _json("--model", "mistral-7b", "--gpu", "RTX 4060", "--quant", "4bit")["fits"] is True


def test_text_report_labels_lower_bounds():
    done = run_cli("estimate", "--model", "qwen2.5-7b", "--gpu", "NVIDIA GeForce RTX 4090", "--batch", "4")
    assert done.returncode == 0, done.stderr
    assert "lower bound" in done.stdout
    assert "fits" in done.stdout


def test_config_json_path(tmp_path):
    from profiler.architectures import load_architecture

    (tmp_path / "config.json").write_text(json.dumps(load_architecture("llama-3-8b")))
    result = _json("--model", str(tmp_path), "--gpu", "H200")
    assert result["model"] == tmp_path.name
    preset = _json("--model", "llama-3-8b", "--gpu", "H200")
    assert result["kv_cache_bytes_per_token"] == preset["kv_cache_bytes_per_token"]


@pytest.mark.parametrize("args, words", [
    (["--model", "mistral-7b", "--gpu", "H100", "--batch", "0"], "--batch"),
    (["--model", "mistral-7b", "--gpu", "B200"], "unknown GPU"),
    (["--model", "gpt-9", "--gpu", "H100"], "unknown architecture"),
    (["--model", "mistral-7b", "--gpu", "cpu"], "--gpu cpu needs"),
    (["--model", "mistral-7b"], "give --gpu"),
    (["--gpu", "H100"], "give --model"),
    (["--model", "mistral-7b", "--gpu", "H100", "--api-price-out", "2"], "--api-price-in"),
    (["--params", "7 billion", "--gpu", "H100"], "--params"),
    (["--model", "missing/config.json", "--gpu", "H100"], "no such config file"),
    (["--model", "bad.json", "--gpu", "H100"], "not valid JSON"),
    (["--model", "lacking.json", "--gpu", "H100"], "lacks"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path, args, words):
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "lacking.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 4096}))
    args = [str(tmp_path / a) if a.endswith(".json") else a for a in args]
    done = run_cli("estimate", *args)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and words in lines[0], done.stderr


def test_estimator_imports_neither_torch_nor_textual():
    code = ("import sys, model.estimate, model.efficiency, model.estimate_report, tui.commands.estimate; "
            "print(sorted(m for m in ('torch', 'transformers', 'textual', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=cli_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_help_names_every_gpu_in_the_table():
    from model.hardware import CPU_NAME, list_gpus
    from tui.commands.estimate import GPU_NAMES

    assert GPU_NAMES.split(", ") == [name for name in list_gpus() if name != CPU_NAME]
