"""A model's shape as the roofline sees it: parameter counts by role, and what one token of KV cache holds.

Built from a Hugging Face config dict (a shipped preset, a config.json, a model folder) or from a bare
parameter count (`--params 7B`) for a generic dense model. Counting follows the modelling code of the
llama family in transformers (llama, mistral, qwen2, qwen3); the tests check the counts against
transformers' own models built on the meta device.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from profiler.errors import InputError

REQUIRED_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")

# model_type -> (q/k/v carry a bias regardless of attention_bias, per-head RMSNorm on q and k)
_FAMILIES = {
    "llama": (False, False),
    "mistral": (False, False),
    "qwen2": (True, False),
    "qwen3": (False, True),
}

# the generic model (--params alone) is shaped like Llama-2-7B/13B: head dim 128, hidden = 128 x layers,
# multi-head attention, gated MLP 8/3 x hidden, which makes each layer hold 12 x hidden^2 parameters
_GENERIC_HEAD_DIM = 128
_GENERIC_VOCAB = 32000


@dataclass(frozen=True)
class ModelShape:
    """What the estimator needs of a model. Parameter counts are split by how they are stored and read."""

    name: str
    model_type: str
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    """Fewer than attention_heads under grouped-query attention: the KV cache shrinks by the ratio."""
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tied_embeddings: bool
    """lm_head shares the input embedding table (then it is read in full every step)."""
    max_context: int | None
    """max_position_embeddings: the longest context the model was built for."""
    sliding_window: int | None
    """Every layer attends to at most this many recent tokens, and the cache keeps no more."""
    params_total: int
    params_embedding: int
    """The input embedding table: a step gathers one row per sequence, it doesn't read the table."""
    params_lm_head: int
    """A separate output projection (0 when tied)."""
    params_linear: int
    """Weights of the Linear layers inside the blocks: what bitsandbytes quantises."""
    linear_output_rows: int
    """Output rows of those Linear layers: LLM.int8 keeps one fp32 scale per row."""
    params_other: int
    """Norms and biases: small, always kept in the compute dtype."""
    is_generic: bool = False
    """Shaped from a bare parameter count: layer shapes are assumed, not known."""

    @property
    def kv_values_per_token(self) -> int:
        """Elements one token adds to the KV cache: a key and a value per layer per KV head."""
        return 2 * self.layers * self.kv_heads * self.head_dim

    @property
    def params_per_token_matmul(self) -> int:
        """Parameters one token multiplies through: every Linear layer and the output projection."""
        output = self.vocab_size * self.hidden_size if not self.is_generic else 0
        return self.params_linear + output


def resolve_model(model: str | None = None, params: str | int | float | None = None) -> ModelShape:
    """The shape for `--model PRESET|CONFIG.json|MODEL_DIR|HUB_ID` and/or `--params N`.

    A hub id is matched to a preset by name ("mistralai/Mistral-7B-Instruct-v0.3" -> mistral-7b-v0.3):
    the estimator never goes online. With both flags, --params replaces the counted parameter total.
    """
    from profiler.architectures import load_architecture, match_architecture

    count = parse_param_count(params) if params is not None else None
    if not model:
        if count is None:
            raise InputError("give --model PRESET|CONFIG.json|MODEL_DIR or --params N (e.g. --params 7B)")
        return generic_shape(count)
    local = Path(model).expanduser()
    if local.exists():  # the user's own config.json or model folder beats a preset of the same name
        shape = shape_from_config(load_architecture(str(local.resolve())), shape_name_for_path(model))
    elif (preset := match_architecture(model)) is not None:
        shape = shape_from_config(load_architecture(preset), preset)
    elif _looks_like_hub_id(model):
        raise InputError(f"unknown model {model!r}: not a shipped preset, config.json or model folder "
                         "(the estimator works offline: pass the path of the model's config.json)")
    else:  # nothing matches: load_architecture words the error (unknown preset, missing file)
        shape = shape_from_config(load_architecture(model), model)
    return with_param_count(shape, count) if count is not None else shape


def _looks_like_hub_id(model: str) -> bool:
    return model.count("/") == 1 and not model.startswith((".", "/", "~")) and not model.endswith(".json")


def shape_from_config(config: dict[str, Any], name: str) -> ModelShape:
    """The shape of a Hugging Face config; InputError naming the fields it lacks."""
    text_config = config.get("text_config")
    if isinstance(text_config, dict) and "hidden_size" not in config:
        config = text_config  # multimodal wrappers keep the language model's fields one level down
    for key in ("num_local_experts", "num_experts", "n_routed_experts"):
        if config.get(key):
            raise InputError(f"{name}: mixture-of-experts models ({key}={config[key]}) aren't supported by the "
                             "estimator yet; --params N alone (N = active parameters) gives a rough bound")
    missing = [key for key in REQUIRED_FIELDS if not _positive_int(config.get(key))]
    if missing:
        raise InputError(f"{name}: the config lacks {', '.join(missing)} (needs {', '.join(REQUIRED_FIELDS)})")
    model_type = str(config.get("model_type") or "unknown")
    qkv_bias_always, qk_norm = _FAMILIES.get(model_type, (False, False))
    hidden, layers = int(config["hidden_size"]), int(config["num_hidden_layers"])
    heads, inter = int(config["num_attention_heads"]), int(config["intermediate_size"])
    vocab = int(config["vocab_size"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or hidden // heads)
    if heads % kv_heads:
        raise InputError(f"{name}: num_attention_heads ({heads}) is not a multiple of num_key_value_heads ({kv_heads})")
    tied = bool(config.get("tie_word_embeddings", False))
    q_out, kv_out = heads * head_dim, kv_heads * head_dim

    attention_linear = hidden * q_out + 2 * hidden * kv_out + q_out * hidden
    mlp_linear = 3 * hidden * inter  # gate, up, down: the gated (SwiGLU) MLP of the llama family
    attention_bias = bool(config.get("attention_bias", False))
    biases = (q_out + 2 * kv_out if (qkv_bias_always or attention_bias) else 0) + (hidden if attention_bias else 0)
    biases += 2 * inter + hidden if config.get("mlp_bias") else 0
    norms = 2 * hidden + (2 * head_dim if qk_norm else 0)
    embedding = vocab * hidden
    lm_head = 0 if tied else vocab * hidden
    params_linear = layers * (attention_linear + mlp_linear)
    params_other = layers * (biases + norms) + hidden  # + the final norm
    return ModelShape(
        name=name, model_type=model_type, layers=layers, hidden_size=hidden, attention_heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, intermediate_size=inter, vocab_size=vocab, tied_embeddings=tied,
        max_context=_positive_int(config.get("max_position_embeddings")), sliding_window=_sliding_window(config),
        params_total=embedding + lm_head + params_linear + params_other, params_embedding=embedding,
        params_lm_head=lm_head, params_linear=params_linear,
        linear_output_rows=layers * (q_out + 2 * kv_out + hidden + 2 * inter + hidden), params_other=params_other,
    )


def generic_shape(params: int) -> ModelShape:
    """A dense model of `params` parameters, all of them weights every token reads (no embedding split)."""
    layers = max(1, round((params / (12 * _GENERIC_HEAD_DIM**2)) ** (1 / 3)))
    hidden = _GENERIC_HEAD_DIM * layers
    return ModelShape(
        name=f"generic {format_param_count(params)}", model_type="generic", layers=layers, hidden_size=hidden,
        attention_heads=layers, kv_heads=layers, head_dim=_GENERIC_HEAD_DIM, intermediate_size=hidden * 8 // 3,
        vocab_size=_GENERIC_VOCAB, tied_embeddings=False, max_context=None, sliding_window=None,
        params_total=params, params_embedding=0, params_lm_head=0, params_linear=params,
        linear_output_rows=max(1, params // hidden), params_other=0, is_generic=True,
    )


def with_param_count(shape: ModelShape, params: int) -> ModelShape:
    """The shape with its block weights rescaled so the total is `params` (e.g. an architecture we can't count)."""
    fixed = shape.params_embedding + shape.params_lm_head + shape.params_other
    if params <= fixed:
        raise InputError(f"--params {format_param_count(params)} is less than {shape.name}'s embeddings and "
                         f"norms alone ({format_param_count(fixed)})")
    linear = params - fixed
    rows = max(1, round(shape.linear_output_rows * linear / max(1, shape.params_linear)))
    return replace(shape, params_total=params, params_linear=linear, linear_output_rows=rows)


def parse_param_count(text: str | int | float) -> int:
    """"7B", "0.5b", "500M", "7e9", 7000000000 -> an integer parameter count."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmbt]?)\s*", str(text).lower())
        if not match:
            raise InputError(f"--params must look like 7B, 500M or 7e9, not {text!r}")
        value = float(match.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[match.group(2)]
    if not math.isfinite(value) or value < 1e6:
        raise InputError(f"--params {text!r} is not a language-model size (at least 1M)")
    return int(value)


def format_param_count(params: int) -> str:
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6)):
        if params >= size:
            return f"{params / size:.3g}{unit}"
    return str(params)


def shape_name_for_path(path: str) -> str:
    """A readable name for a config given by path: its folder's name for `.../Model/config.json`."""
    candidate = Path(path).expanduser()
    if candidate.name == "config.json":
        candidate = candidate.parent
    return candidate.name or str(path)


def _sliding_window(config: dict[str, Any]) -> int | None:
    window = _positive_int(config.get("sliding_window"))
    if window is None or config.get("use_sliding_window") is False:
        return None
    layer_types = config.get("layer_types")
    if layer_types and any(kind != "sliding_attention" for kind in layer_types):
        return None  # some layers attend to everything: their cache grows with the context
    if config.get("model_type") in ("qwen2", "qwen3") and config.get("max_window_layers", 0):
        return None  # Qwen's first max_window_layers layers use full attention
    return window


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return int(value)


__all__ = ["ModelShape", "format_param_count", "generic_shape", "parse_param_count", "resolve_model",
           "shape_from_config",
           "shape_name_for_path", "with_param_count"]
