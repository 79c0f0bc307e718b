"""Shipped architectures: loading, errors, and that transformers builds every one of them.

transformers is the judge of the preset files: each is built for real (shrunk to a few layers, as the
`--random-weights` backend would build it full size) and at full size on the meta device, where its
parameter count must equal the estimator's.
"""

from __future__ import annotations

import json

import pytest

from model.estimate_shape import shape_from_config
from profiler.architectures import list_architectures, load_architecture, match_architecture
from profiler.errors import InputError

REQUIRED_PRESETS = ["mistral-7b-v0.3", "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b", "llama-3-70b",
                    "qwen2.5-0.5b", "qwen2.5-7b"]


def test_the_issues_presets_are_shipped():
    assert set(REQUIRED_PRESETS) <= set(list_architectures())


def test_names_are_case_insensitive_and_aliases_resolve():
    assert load_architecture("Mistral-7B-v0.3") == load_architecture("mistral-7b-v0.3")
    assert load_architecture("mistral-7b") == load_architecture("mistral-7b-v0.3")


def test_each_load_is_a_fresh_copy():
    first = load_architecture("llama-3-8b")
    first.pop("model_type")
    first["architectures"].append("changed")
    assert load_architecture("llama-3-8b")["model_type"] == "llama"
    assert load_architecture("llama-3-8b")["architectures"] == ["LlamaForCausalLM"]


def test_config_file_and_model_folder(tmp_path):
    config = {"model_type": "llama", "hidden_size": 64}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert load_architecture(str(tmp_path / "config.json")) == config
    assert load_architecture(str(tmp_path)) == config


@pytest.mark.parametrize("make_argument, message", [
    (lambda tmp: "llama-9-1b", "unknown architecture"),
    (lambda tmp: str(tmp / "missing.json"), "no such config file"),
    (lambda tmp: str(tmp), "has no config.json"),
    (lambda tmp: _write(tmp / "bad.json", "{not json"), "not valid JSON"),
    (lambda tmp: _write(tmp / "list.json", "[1, 2]"), "expected a JSON object"),
])
def test_bad_names_and_files_are_one_clear_line(tmp_path, make_argument, message):
    with pytest.raises(InputError, match=message) as caught:
        load_architecture(make_argument(tmp_path))
    assert "\n" not in str(caught.value)


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("model_id, preset", [
    ("mistralai/Mistral-7B-Instruct-v0.3", "mistral-7b-v0.3"),
    ("mistralai/Mistral-7B-v0.1", "mistral-7b-v0.1"),
    ("meta-llama/Llama-2-7b-chat-hf", "llama-2-7b"),
    ("meta-llama/Meta-Llama-3-70B-Instruct", "llama-3-70b"),
    ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b"),
    ("qwen2.5-0.5b", "qwen2.5-0.5b"),
    ("tokenlat/embedded-mistral-512x6", None),
    ("mistralai/Mistral-7B-Instruct-v0.2", None),  # a different vocabulary: no guessing
    ("", None),
])
def test_hub_ids_match_presets_by_name(model_id, preset):
    assert match_architecture(model_id) == preset


def _tiny_copy(config: dict) -> dict:
    """The preset's architecture with small widths: same model_type, GQA ratio, tying, biases, rope."""
    tiny = dict(config)
    grouped = config["num_key_value_heads"] < config["num_attention_heads"]
    tiny.update(num_hidden_layers=2, hidden_size=64, intermediate_size=96, num_attention_heads=4,
                num_key_value_heads=2 if grouped else 4, head_dim=16, vocab_size=300)
    return tiny


def _build(config: dict, device: str | None = None):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    kwargs = {k: v for k, v in config.items() if k not in ("model_type", "architectures", "torch_dtype")}
    hf_config = AutoConfig.for_model(config["model_type"], **kwargs)
    assert type(hf_config).__name__.removesuffix("Config").lower() in config["architectures"][0].lower()
    if device is None:
        return AutoModelForCausalLM.from_config(hf_config)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(hf_config)


@pytest.mark.parametrize("name", list_architectures())
def test_transformers_builds_a_small_copy_that_runs(name):
    import torch

    config = _tiny_copy(load_architecture(name))
    model = _build(config)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([[1, 2, 3]]), use_cache=True)
    assert out.logits.shape == (1, 3, config["vocab_size"])
    assert sum(p.numel() for p in model.parameters()) == shape_from_config(config, name).params_total


@pytest.mark.parametrize("name", list_architectures())
def test_full_size_parameter_count_matches_transformers(name):
    config = load_architecture(name)
    model = _build(config, device="meta")  # shapes without memory: a 70B costs nothing here
    assert sum(p.numel() for p in model.parameters()) == shape_from_config(config, name).params_total
