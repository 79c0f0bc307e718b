"""Measured vs possible: how much of the GPU's memory bandwidth a recorded session achieved.

Decoding one token must read the weights and the KV cache at least once, so the memory floor of a
decode step ÷ the measured median decode latency is the fraction of spec bandwidth the code achieved
(gpt-fast ~69%, Hugging Face eager ~44%, bitsandbytes LLM.int8 ~5%: FIELD-NOTES "Roofline").
Works on the session dicts of `SessionStore.get_session()` and `list_sessions()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model.estimate_shape import ModelShape, shape_from_config
from model.hardware import find_gpu, resolve_hardware
from model.roofline import DTYPE_BYTES, QUANTS, decode_step_floor, resolve_dtype
from profiler.errors import InputError


@dataclass(frozen=True)
class Efficiency:
    """A session's median decode step next to its lower bound."""

    gpu: str
    """The GPU table row the session's gpu_name matched."""
    model: str
    context: int
    """Median context of the session's decode steps, where the floor is taken."""
    floor_ms: float
    """Memory floor of one decode step: (weights + KV cache read) ÷ spec bandwidth."""
    measured_ms: float
    """The session's median decode latency."""

    @property
    def fraction(self) -> float:
        """Achieved memory-bandwidth fraction: 1.0 would be the spec-sheet bandwidth."""
        return self.floor_ms / self.measured_ms


def bandwidth_fraction(session: dict[str, Any]) -> float | None:
    """Achieved memory-bandwidth fraction of a session, or None when its GPU or model is unknown."""
    result = session_efficiency(session)
    return result.fraction if result is not None else None


def session_efficiency(session: dict[str, Any]) -> Efficiency | None:
    """The floor and the measurement behind `bandwidth_fraction`, for `show` and the app to print both."""
    spec = find_gpu(session.get("gpu_name") or "")
    measured = session.get("decode_p50_ms")
    tokens = session.get("tokens") or 0
    if spec is None or not measured or measured <= 0 or tokens < 2:
        return None  # CPU sessions, unknown GPUs, sessions without a decode step
    shape = _session_shape(session)
    if shape is None:
        return None
    # one GPU's bandwidth even for multi-GPU sessions: device_map="auto" runs the layers one GPU after another
    hardware = resolve_hardware(spec.name)
    dtype = session.get("dtype") if session.get("dtype") in DTYPE_BYTES else resolve_dtype("auto", hardware)
    quant = session.get("quant") if session.get("quant") in QUANTS else "none"
    batch = max(1, int(session.get("batch_size") or 1))
    # decode tokens k = 2..N see contexts input + 1 .. input + N - 1: their median is input + N / 2
    context = int(session.get("input_tokens") or 0) + tokens // 2
    floor = decode_step_floor(shape, hardware, dtype, quant, batch, context)
    return Efficiency(gpu=spec.name, model=shape.name, context=context, floor_ms=floor.memory_s * 1000,
                      measured_ms=float(measured))


def _session_shape(session: dict[str, Any]) -> ModelShape | None:
    """The recorded model config when the session has one (collected sessions), else a preset by model name."""
    from profiler.architectures import load_architecture, match_architecture

    name = session.get("model") or ""
    environment = session.get("environment")
    config = environment.get("model_config") if isinstance(environment, dict) else None
    if isinstance(config, dict) and config:
        try:
            return shape_from_config(config, name or "recorded config")
        except InputError:
            pass  # an incomplete recorded config: the name may still identify the model
    preset = match_architecture(name)
    return shape_from_config(load_architecture(preset), preset) if preset else None


__all__ = ["Efficiency", "bandwidth_fraction", "session_efficiency"]
