"""The backend interface: what the timed decode loop needs from a model, and nothing more.

A backend turns a prompt into token ids and starts a `Generation`; each `Generation.step()`
produces exactly one token and returns only once its id is on the host (so the loop's clock
around `step()` measures the device's time, not a kernel launch). The first step includes the
prompt's processing (prefill).

Adding a backend later:
- batched decoding: a Generation whose step() advances every sequence by one token and reports
  per-sequence ids through `StepOutput.batch_token_ids` (`BackendInfo.batch_size` > 1);
- a remote streaming server (OpenAI-compatible, Ollama): step() blocks until the next streamed
  token arrives; `BackendInfo.timing = "arrival"` tells readers that latencies are inter-arrival
  times seen by the client rather than device time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class SamplingSettings:
    """How the next token is chosen. temperature 0 means greedy (argmax)."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(slots=True)
class StepOutput:
    token_id: int
    forward_ns: int | None = None
    """Time of the forward pass alone, when measurable at no cost (CUDA events or the CPU clock)."""
    sample_ns: int | None = None
    batch_token_ids: tuple[int, ...] | None = None


@dataclass
class BackendInfo:
    """What ran, recorded with every session and shown in the app's model bar.

    Which of these a session takes, and as which of its fields, is said once by the field table
    (`from_backend` in profiler/session_fields.py).
    """

    model: str
    """Model id, folder or architecture name."""
    label: str = ""
    """e.g. 'random weights': shown everywhere the model is named."""
    backend: str = "huggingface"
    dtype: str = ""
    quant: str = "none"
    device: str = ""
    attn: str = ""
    gpu_name: str = ""
    batch_size: int = 1
    max_context: int | None = None
    timing: str = "device"
    """'device': step() time is the device's; 'arrival': client-side inter-arrival time."""
    environment: dict[str, Any] = field(default_factory=dict)


class Generation(ABC):
    """One request's token stream."""

    @abstractmethod
    def step(self) -> StepOutput:
        """Produce the next token (the first call also processes the prompt)."""

    @abstractmethod
    def token_text(self, token_id: int) -> str:
        """The text this token adds to the output (incremental: multi-byte characters come whole)."""

    def close(self) -> None:
        """Release the KV cache and anything else held for this request."""


class Backend(ABC):
    info: BackendInfo

    @abstractmethod
    def encode(self, prompt: str) -> list[int]:
        """Token ids of the prompt as the model will see it (chat template applied unless raw)."""

    @abstractmethod
    def start(self, input_ids: list[int], sampling: SamplingSettings) -> Generation: ...

    @property
    @abstractmethod
    def eos_token_ids(self) -> frozenset[int]: ...

    def synchronize(self) -> None:
        """Wait for all queued device work (CUDA); a no-op elsewhere."""

    def close(self) -> None:
        """Free the model."""


ProgressCallback = Callable[[str, float], None]
"""(what is happening, fraction done 0..1) while a backend loads."""
