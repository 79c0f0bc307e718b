"""Backend flags as one value, and the factory that loads the backend they describe."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from profiler.backends.base import Backend, ProgressCallback
from profiler.errors import BackendError, InputError
from profiler.flag_checks import MAX_BATCH, check_seed

DTYPES = ("auto", "float32", "float16", "bfloat16")
QUANTS = ("none", "8bit", "4bit")
FLASH_ATTENTION = "flash_attention_2"
ATTNS = ("auto", "eager", "sdpa", FLASH_ATTENTION)
CACHES = ("dynamic", "static")


@dataclass(frozen=True)
class BackendOptions:
    model: str | None = None
    """Local folder or hub id; None with no random_weights means the embedded default."""
    random_weights: str | None = None
    """A shipped architecture name or a config.json path, built with random weights."""
    dtype: str = "auto"
    quant: str = "none"
    device: str = "auto"
    attn: str = "auto"
    trust_remote_code: bool = False
    raw: bool = False
    seed: int = 0
    """Seed of random weights (the embedded model and --random-weights)."""
    data_dir: str | None = None
    """Scratch space for quantising in-memory models stays inside the data dir."""
    skip_memory_check: bool = False
    """Load even when the estimator says the weights won't fit (its figure can be high for unusual layouts)."""
    batch: int | None = None
    """Sequences decoded together (profiler/batch_collect.py); None: the one-sequence loop."""
    cache: str = "dynamic"
    """KV cache: 'dynamic' grows per token; 'static' is allocated once for the run (batched runs only)."""
    compile: bool = False
    """torch.compile the decode step (needs the static cache: shapes must not change between steps)."""

    def validate(self) -> None:
        if self.dtype not in DTYPES:
            raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        if self.quant not in QUANTS:
            raise InputError(f"--quant must be one of {', '.join(QUANTS)}, not {self.quant!r}")
        if self.attn not in ATTNS:
            raise InputError(f"--attn must be one of {', '.join(ATTNS)}, not {self.attn!r}")
        device = self.device
        if not (device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
            raise InputError(f"--device must be auto, cpu, cuda or cuda:N, not {device!r}")
        if self.model is not None and not self.model.strip():
            raise InputError("--model is empty: give a model folder or hub id, or leave it out for the embedded model")
        if self.random_weights is not None and not self.random_weights.strip():
            # '' used to fall through to the embedded model: a run of something the user did not ask for
            raise InputError("--random-weights is empty: give an architecture name or a config.json path")
        if self.model and self.random_weights:
            raise InputError("give --model or --random-weights, not both")
        if self.model and looks_like_path(self.model) and not Path(self.model).expanduser().exists():
            # checked before torch is imported: a typo costs no model-loading time
            raise BackendError(f"model folder not found: {self.model}")
        check_seed("the weights seed", self.seed)
        self._validate_batching()
        if self.attn == FLASH_ATTENTION:
            check_flash_attention(self.device, self.dtype)


    def _validate_batching(self) -> None:
        if self.batch is not None and self.batch < 1:
            raise InputError(f"--batch must be at least 1 (got {self.batch})")
        if self.batch is not None and self.batch > MAX_BATCH:  # before a cache of that many sequences is allocated
            raise InputError(f"--batch must be at most {MAX_BATCH} (got {self.batch})")
        if self.cache not in CACHES:
            raise InputError(f"--cache must be one of {', '.join(CACHES)}, not {self.cache!r}")
        if self.cache == "static" and self.batch is None:
            raise InputError("--cache static runs in the batched loop: add --batch B (--batch 1 for one sequence)")
        if self.compile and self.cache != "static":
            raise InputError("--compile needs --cache static (a growing cache changes shapes every step)")


def check_flash_attention(device: str, dtype: str) -> None:
    """flash-attn is a CUDA-only package with half-precision kernels: say so before torch loads, not as
    transformers' traceback after it."""
    if device == "cpu":
        raise BackendError(f"--attn {FLASH_ATTENTION} needs a CUDA GPU; with --device cpu use --attn sdpa or eager")
    if dtype == "float32":
        raise BackendError(f"--attn {FLASH_ATTENTION} runs in float16 or bfloat16 only; drop --dtype float32 "
                           "(auto picks bfloat16 on a GPU that has it) or use --attn sdpa")
    if importlib.util.find_spec("flash_attn") is None:
        raise BackendError(f"--attn {FLASH_ATTENTION} needs the flash-attn package, which is not installed here "
                           "(pip install flash-attn on a machine with a CUDA GPU), or use --attn sdpa")


def looks_like_path(model: str) -> bool:
    """Paths start with . / ~ or have more than one slash; hub ids are 'org/name'."""
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model or model.endswith(".json")


def load_backend(options: BackendOptions, progress: ProgressCallback | None = None) -> Backend:
    """Load the model the options describe. torch and transformers are imported only here."""
    options.validate()
    from profiler.backends.huggingface import load_huggingface_backend  # deferred: imports torch

    return load_huggingface_backend(options, progress)
