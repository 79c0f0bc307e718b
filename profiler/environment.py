"""The environment recorded with every session: what ran, where, with which libraries."""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata
from typing import Any


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def base_environment() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
        "bitsandbytes": package_version("bitsandbytes"),
        "accelerate": package_version("accelerate"),
        "tokenlat_tui": package_version("tokenlat-tui"),
    }


def nvidia_driver_version() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
            return version.decode() if isinstance(version, bytes) else version
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no NVML (no NVIDIA driver) is a normal case, not an error
        return None
