"""What the roofline needs to know about a device: memory bandwidth, peak compute, memory size.

Figures are vendor spec-sheet peaks (see the source comment on each row): real kernels reach a
fraction of them, which is exactly why everything computed from them is a lower bound on time.
Pure Python: the estimator must answer instantly and `model/` never imports the UI.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from profiler.errors import InputError

GIB = 1024**3

GPU_RUNTIME_OVERHEAD_BYTES = 1 * GIB
"""Memory a GPU process holds besides weights, KV cache and activations: the CUDA context (~0.3-0.5 GiB
with lazy module loading), cuBLAS workspaces, memory the driver reserves (an "80 GB" H100 shows ~79.6 GiB
to NVML) and caching-allocator fragmentation. 1 GiB is typical of a PyTorch process on a recent driver."""

CPU_RUNTIME_OVERHEAD_BYTES = GIB // 2
"""A Python process with torch and transformers imported holds about this much resident memory."""


@dataclass(frozen=True)
class GpuSpec:
    """One row of the GPU table."""

    name: str
    """Canonical name, as `--gpu` accepts it and the report prints it."""
    bandwidth_gb_s: float
    """Peak memory bandwidth, GB/s (10^9 bytes per second)."""
    tflops_16bit: float
    """Peak dense (no structured sparsity) bf16/fp16 tensor-core TFLOPS with fp32 accumulation."""
    tflops_fp32: float
    """Peak fp32 TFLOPS without TF32: what PyTorch matmuls use in float32 by default."""
    memory_gib: float
    """Memory size as marketed; GPU memory is built in binary units, so "80 GB" is 80 GiB."""
    bf16: bool
    """Has bf16 tensor cores (Turing and older emulate bf16: slow)."""
    requires: tuple[str, ...]
    """Words that all appear in a matching device name (NVML's or the user's)."""
    excludes: tuple[str, ...] = ()
    """Words that rule a name out: a different product sharing the requires words."""


# Sources: NVIDIA data sheets and the Ada/Hopper architecture whitepapers (peak dense figures).
GPUS: tuple[GpuSpec, ...] = (
    # A100 data sheet (nvidia.com/en-us/data-center/a100): 40GB HBM2 1,555 GB/s; BF16 312 TF; FP32 19.5 TF
    GpuSpec("A100-40GB", 1555, 312, 19.5, 40, True, ("a100", "40gb")),
    # A100 data sheet: 80GB SXM HBM2e 2,039 GB/s; PCIe 80GB 1,935 GB/s; same compute as the 40GB part
    GpuSpec("A100-80GB", 2039, 312, 19.5, 80, True, ("a100", "80gb"), excludes=("pcie",)),
    GpuSpec("A100-80GB-PCIe", 1935, 312, 19.5, 80, True, ("a100", "80gb", "pcie")),
    # H100 data sheet (nvidia.com/en-us/data-center/h100): SXM 3.35 TB/s, BF16 989 TF dense, FP32 67 TF
    GpuSpec("H100", 3350, 989, 67, 80, True, ("h100",), excludes=("pcie", "nvl")),
    # H100 data sheet: PCIe 2.0 TB/s, BF16 756 TF dense, FP32 51 TF
    GpuSpec("H100-PCIe", 2000, 756, 51, 80, True, ("h100", "pcie")),
    # H200 data sheet (nvidia.com/en-us/data-center/h200): SXM 141 GB HBM3e 4.8 TB/s, BF16 989 TF dense
    GpuSpec("H200", 4800, 989, 67, 141, True, ("h200",), excludes=("nvl",)),
    # L4 data sheet (nvidia.com/en-us/data-center/l4): 24 GB GDDR6 300 GB/s, BF16 121 TF dense, FP32 30.3 TF
    GpuSpec("L4", 300, 121, 30.3, 24, True, ("l4",)),
    # T4 data sheet (nvidia.com/en-us/data-center/tesla-t4): 16 GB GDDR6 320 GB/s, FP16 65 TF, FP32 8.1 TF;
    # Turing has no bf16
    GpuSpec("T4", 320, 65, 8.1, 16, False, ("t4",)),
    # Ada whitepaper (RTX 4090): 24 GB GDDR6X 1,008 GB/s; FP16/BF16 tensor with FP32 accumulate 165.2 TF dense
    # (330 with FP16 accumulate, which PyTorch does not use); FP32 82.6 TF
    GpuSpec("RTX 4090", 1008, 165.2, 82.6, 24, True, ("4090",), excludes=("laptop", "d")),
    # NVIDIA RTX 4060 specs + Ada whitepaper ratios: 8 GB GDDR6 272 GB/s; ~30 TF FP16 tensor w/ FP32 acc; 15.1 TF FP32
    GpuSpec("RTX 4060", 272, 30, 15.1, 8, True, ("4060",), excludes=("ti", "laptop")),
)

CPU_NAME = "cpu"


@dataclass(frozen=True)
class Hardware:
    """The device(s) an estimate runs on, resolved: a table GPU, a CPU, or user-given figures."""

    name: str
    count: int
    """Devices working on one model. The bound assumes tensor parallelism: bandwidth and compute add up."""
    bandwidth_gb_s: float
    """Per device."""
    tflops_16bit: float
    """Per device."""
    tflops_fp32: float
    """Per device."""
    memory_bytes: int
    """Per device."""
    runtime_overhead_bytes: int
    """Per device."""
    bf16: bool = True
    is_gpu: bool = True

    @property
    def total_bandwidth_bytes_s(self) -> float:
        return self.bandwidth_gb_s * 1e9 * self.count

    @property
    def total_memory_bytes(self) -> int:
        return self.memory_bytes * self.count

    @property
    def total_overhead_bytes(self) -> int:
        return self.runtime_overhead_bytes * self.count

    def total_flops(self, dtype: str) -> float:
        per_device = self.tflops_fp32 if dtype == "float32" else self.tflops_16bit
        return per_device * 1e12 * self.count


def list_gpus() -> list[str]:
    """Names `--gpu` accepts, table order, `cpu` last."""
    return [spec.name for spec in GPUS] + [CPU_NAME]


def find_gpu(device_name: str | None) -> GpuSpec | None:
    """The table row for a device name as NVML reports it or a user types it; None when unknown or ambiguous.

    "NVIDIA H100 80GB HBM3" -> H100, "NVIDIA A100-SXM4-40GB" -> A100-40GB, "h100" -> H100.
    "NVIDIA GeForce RTX 4060 Ti" -> None: a different card, and a wrong row would give a wrong bound.
    """
    if not device_name:
        return None
    words = _name_words(device_name)
    compact = "".join(words)
    exact = [spec for spec in GPUS if "".join(_name_words(spec.name)) == compact]
    if exact:
        return exact[0]
    matches = [spec for spec in GPUS
               if all(w in words for w in spec.requires) and not any(w in words for w in spec.excludes)]
    return matches[0] if len(matches) == 1 else None


def _name_words(name: str) -> list[str]:
    words = [re.sub(r"^rtx(?=\d)", "", w) for w in re.split(r"[^a-z0-9]+", name.lower())]  # "rtx4090" typed
    return [w for w in words if w and w not in ("nvidia", "geforce", "tesla", "rtx", "sxm", "sxm4", "sxm5")]


def resolve_hardware(gpu: str | None = None, *, gpus: int = 1, bandwidth_gb_s: float | None = None,
                     tflops: float | None = None, memory_gib: float | None = None) -> Hardware:
    """Hardware from `--gpu NAME [--gpus N]` and/or `--bandwidth/--tflops/--memory`.

    A table GPU with figures given uses the figures instead of the sheet's (e.g. a measured bandwidth).
    `cpu` and no `--gpu` at all need all three figures: there is no table to fall back on.
    """
    if gpus < 1:
        raise InputError(f"--gpus must be at least 1, not {gpus}")
    for flag, value in (("--bandwidth", bandwidth_gb_s), ("--tflops", tflops), ("--memory", memory_gib)):
        # finite in the units used below too: --memory 1e308 GiB overflowed to inf bytes (an OverflowError)
        if value is not None and not (value > 0 and math.isfinite(value * GIB)):
            raise InputError(f"{flag} must be a positive finite number, not {value}")
    if gpu is None or gpu.strip().lower() == CPU_NAME:
        return _custom_hardware(gpu, gpus, bandwidth_gb_s, tflops, memory_gib)
    spec = find_gpu(gpu)
    if spec is None:
        raise InputError(f"unknown GPU {gpu!r}; known: {', '.join(list_gpus())} "
                         "(or give --bandwidth GB/s --tflops T --memory GB for any other device)")
    hardware = Hardware(name=spec.name, count=gpus, bandwidth_gb_s=spec.bandwidth_gb_s,
                        tflops_16bit=spec.tflops_16bit, tflops_fp32=spec.tflops_fp32,
                        memory_bytes=int(spec.memory_gib * GIB), runtime_overhead_bytes=GPU_RUNTIME_OVERHEAD_BYTES,
                        bf16=spec.bf16)
    overrides = {}
    if bandwidth_gb_s is not None:
        overrides["bandwidth_gb_s"] = bandwidth_gb_s
    if tflops is not None:
        overrides["tflops_16bit"] = overrides["tflops_fp32"] = tflops
    if memory_gib is not None:
        overrides["memory_bytes"] = int(memory_gib * GIB)
    return replace(hardware, **overrides) if overrides else hardware


def _custom_hardware(gpu: str | None, count: int, bandwidth_gb_s: float | None, tflops: float | None,
                     memory_gib: float | None) -> Hardware:
    is_cpu = gpu is not None
    missing = [flag for flag, value in (("--bandwidth GB/s", bandwidth_gb_s), ("--tflops T", tflops),
                                        ("--memory GB", memory_gib)) if value is None]
    if missing:
        if is_cpu:
            raise InputError(f"--gpu cpu needs this machine's figures: {', '.join(missing)} "
                             "(e.g. --bandwidth 80 --tflops 1 --memory 32 for a desktop with dual-channel DDR5)")
        raise InputError(f"give --gpu NAME ({', '.join(list_gpus())}) or all of "
                         f"--bandwidth GB/s --tflops T --memory GB (missing {', '.join(missing)})")
    assert bandwidth_gb_s is not None and tflops is not None and memory_gib is not None
    return Hardware(name=CPU_NAME if is_cpu else "custom", count=count, bandwidth_gb_s=bandwidth_gb_s,
                    tflops_16bit=tflops, tflops_fp32=tflops, memory_bytes=int(memory_gib * GIB),
                    runtime_overhead_bytes=CPU_RUNTIME_OVERHEAD_BYTES if is_cpu else GPU_RUNTIME_OVERHEAD_BYTES,
                    is_gpu=not is_cpu)


__all__ = ["CPU_NAME", "GIB", "GPUS", "GpuSpec", "Hardware", "find_gpu", "list_gpus", "resolve_hardware"]
