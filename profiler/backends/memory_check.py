"""Will the weights fit? Checked with the estimator's own byte count before a model is built.

Without it, `--random-weights llama-3-70b` on a 24 GB machine is ended by the kernel's OOM killer
(exit 137, no message) after minutes of allocating. The figure is the weights alone: the KV cache
and activations come on top, so a refusal is never a false alarm for the models the estimator
knows (the llama family's gated MLP; other layouts may count high: --skip-memory-check).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.errors import BackendError, InputError

GIB = 1024**3
CGROUP_ROOT = Path("/sys/fs/cgroup")
HOST = "CPU RAM"


@dataclass(frozen=True)
class WeightsPlan:
    """A model about to be loaded, enough to count its weights' bytes at any dtype and quantisation."""

    name: str
    shape: Any
    """model.estimate_shape.ModelShape"""
    device: str
    """Resolved: cpu, cuda or cuda:N."""
    random_weights: bool
    """Quantising random weights builds them unquantised in host RAM first (then saves and reloads them)."""

    def host_bytes(self, dtype: str, quant: str) -> int:
        from model.roofline import weight_bytes

        built_first = weight_bytes(self.shape, dtype, "none") if self.random_weights and quant != "none" else 0
        if self.device == "cpu":
            return max(weight_bytes(self.shape, dtype, quant), built_first)
        return built_first  # other loads go straight to the GPU (random weights) or shard by shard (saved ones)

    def device_bytes(self, dtype: str, quant: str) -> int:
        from model.roofline import weight_bytes

        return 0 if self.device == "cpu" else weight_bytes(self.shape, dtype, quant)


def weights_plan(config: dict[str, Any], name: str, device: str, *, random_weights: bool) -> WeightsPlan | None:
    """The plan for a Hugging Face config dict; None when the estimator can't read it (nothing is checked then)."""
    from model.estimate_shape import shape_from_config  # deferred: the estimator is needed only here

    if config.get("quantization_config"):
        return None  # saved pre-quantised (GPTQ, AWQ, bitsandbytes): the file's format sets the size, not --dtype
    try:
        shape = shape_from_config(config, name)
    except InputError:
        return None  # e.g. a mixture-of-experts config: loading will say what's wrong, if anything
    return WeightsPlan(name, shape, device, random_weights)


def check_weights_fit(plan: WeightsPlan | None, dtype: str, quant: str, *, host_available: int,
                      gpu_available: tuple[int, str] | None = None) -> None:
    """BackendError naming what the weights need, what is available and what to try, if they won't fit.

    `gpu_available`: (free bytes, where) from `available_gpu_bytes`, for a load onto a GPU.
    """
    if plan is None:
        return
    places = [(HOST, host_available, plan.host_bytes)]
    if gpu_available is not None and plan.device != "cpu":
        free, where = gpu_available
        places.append((f"GPU memory ({where})", free, plan.device_bytes))

    def fits(d: str, q: str) -> bool:
        return all(measure(d, q) <= available for _place, available, measure in places)

    for place, available, measure in places:
        needed = measure(dtype, quant)
        if needed <= available:
            continue
        tries = [flags for flags, d, q in _smaller_settings(dtype, quant) if fits(d, q)]
        if plan.device == "cpu":
            tries.append("a GPU (--device cuda)")
        advice = f"try {' or '.join(tries)}" if tries else "try a smaller model or more memory"
        if place == HOST and plan.random_weights and quant != "none":
            purpose = f"to build its {dtype} weights before quantising them to {quant}"
        else:
            purpose = f"for its {dtype}{'' if quant == 'none' else ' ' + quant} weights"
        raise BackendError(f"{plan.name} needs about {gib(needed)} GiB of {place} {purpose}, and {gib(available)} "
                           f"GiB is available; {advice}, or --skip-memory-check to load it anyway")


def _smaller_settings(dtype: str, quant: str) -> list[tuple[str, str, str]]:
    """(flags, dtype, quant) of settings smaller than the given one, smallest change first."""
    found = []
    if dtype == "float32":
        found.append(("--dtype bfloat16", "bfloat16", quant))
    if quant != "4bit":
        found.append(("--quant 4bit", dtype, "4bit"))
        if dtype == "float32":
            found.append(("--dtype bfloat16 --quant 4bit", "bfloat16", "4bit"))
    return found


def gib(value: int) -> str:
    return f"{value / GIB:.1f}"


def available_host_bytes(cgroup_root: Path = CGROUP_ROOT) -> int:
    """Memory this process can still take: the kernel's MemAvailable, capped by the limit of the cgroup
    mounted at /sys/fs/cgroup (a container's own; elsewhere the root, usually unlimited)."""
    import psutil

    available = psutil.virtual_memory().available
    headroom = cgroup_headroom(cgroup_root)
    return available if headroom is None else min(available, headroom)


def cgroup_headroom(root: Path) -> int | None:
    """limit - usage of the memory cgroup (v2, else v1), or None when unlimited or unreadable."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = (root / limit_file).read_text().strip()
            usage = int((root / usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= 1 << 60:  # v1 writes 'unlimited' as ~2^63
            return None
        return max(0, int(limit) - usage)
    return None


def available_gpu_bytes(torch: Any, device: str) -> tuple[int, str]:
    """Free memory on the device(s) a model will be placed on, and how to name them.

    `cuda` with several GPUs spreads the layers over all of them (device_map auto): their free memory adds up.
    """
    if device == "cuda" and torch.cuda.device_count() > 1:
        indices = list(range(torch.cuda.device_count()))
    else:
        indices = [int(device.split(":")[1]) if ":" in device else 0]
    free = sum(torch.cuda.mem_get_info(index)[0] for index in indices)
    where = f"cuda:{indices[0]}" if len(indices) == 1 else f"{len(indices)} GPUs together"
    return free, where


__all__ = ["WeightsPlan", "available_gpu_bytes", "available_host_bytes", "cgroup_headroom", "check_weights_fit",
           "weights_plan"]
