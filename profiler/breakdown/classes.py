"""Operator classes, from the model's own module structure.

A module's class is read from what the model says it is, not from guessed operator names:
- `lm_head`: the model's output embeddings (`get_output_embeddings()`);
- `embeddings`: its input embeddings (`get_input_embeddings()`) and any other nn.Embedding;
- `norms`: a module whose class name holds "Norm" (RMSNorm, LayerNorm, a q/k norm inside attention);
- `attention`: a class name holding "Attention", and the rotary position tables that only attention uses;
- `MLP`: a class name holding "MLP", "FeedForward" or "Experts";
and, decided where an operator ran rather than by a module:
- `sampling`: operators of the decode step outside the model's forward (logits -> token id -> host);
- `other`: inside the forward but in none of the above (residual adds, masks, the decoder layer's glue).
An operator belongs to the innermost classified module around it, so a norm inside attention is a norm.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

CLASSES = ("embeddings", "attention", "MLP", "norms", "lm_head", "sampling", "other")
SAMPLING, OTHER = "sampling", "other"
LABEL_PREFIX = "tl::"
"""record_function labels of this package start with it (tl::attention[3], tl::step 7, tl::forward)."""
STEP_LABEL = LABEL_PREFIX + "step"
FORWARD_LABEL = LABEL_PREFIX + "forward"
_LAYER = re.compile(r"(?:^|\.)(\d+)(?:\.|$)")


def module_class(name: str, module: Any, model: Any) -> str | None:
    """The class of one module of `model` (None: its operators belong to the module around it)."""
    import torch

    if module is model.get_output_embeddings():
        return "lm_head"
    kind = type(module).__name__
    if module is model.get_input_embeddings() or isinstance(module, torch.nn.Embedding):
        return "embeddings"
    if "Norm" in kind:
        return "norms"
    if "Attention" in kind or "Rotary" in kind:
        return "attention"
    if "MLP" in kind or "FeedForward" in kind or "Experts" in kind:
        return "MLP"
    return None


def layer_of(name: str) -> int | None:
    """The decoder layer a module belongs to, from its path (model.layers.3.self_attn -> 3)."""
    match = _LAYER.search(name)
    return int(match.group(1)) if match else None


def labelled_modules(model: Any, *, layers: bool) -> Iterator[tuple[str, Any, str]]:
    """(path, module, label) for every classified module; the label says the class (and layer)."""
    for name, module in model.named_modules():
        if module is model:
            continue
        kind = module_class(name, module, model)
        if kind is None:
            continue
        layer = layer_of(name) if layers else None
        yield name, module, f"{LABEL_PREFIX}{kind}" + (f"[{layer}]" if layer is not None else "")


def class_of_label(label: str) -> str:
    """tl::attention[3] -> attention."""
    return label[len(LABEL_PREFIX):].split("[", 1)[0]
