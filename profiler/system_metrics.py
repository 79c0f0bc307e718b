"""System metrics sampled beside the decode loop: NVML on NVIDIA GPUs, else CPU and RSS (psutil).

A daemon thread samples at SAMPLE_HZ into a list the session writer drains at each flush, so
samples are stored with the session and align with tokens by wall-clock time. Each sample is a
few NVML/psutil calls (tens of microseconds), too little to disturb the loop it watches.
"""

from __future__ import annotations

import threading
import time
from typing import Any

SAMPLE_HZ = 20  # the issue asks >= 10 Hz; 20 keeps a live display smooth

# (wall_time, gpu_util, gpu_mem_mb, gpu_temp_c, sm_clock_mhz, power_w, throttle_reasons, cpu_util, rss_mb)
Sample = tuple


class _NvmlProbe:
    def __init__(self, index: int) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)

    def read(self) -> tuple:
        nvml, handle = self._nvml, self._handle
        util = nvml.nvmlDeviceGetUtilizationRates(handle).gpu
        memory = nvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
        temp = nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
        clock = nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)
        power = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
        throttle = nvml.nvmlDeviceGetCurrentClocksEventReasons(handle)
        return util, memory, temp, clock, power, hex(throttle), None, None

    def close(self) -> None:
        self._nvml.nvmlShutdown()


class _CpuProbe:
    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only sets the baseline

    def read(self) -> tuple:
        cpu = self._process.cpu_percent(None)
        rss = self._process.memory_info().rss / 2**20
        return None, None, None, None, None, None, cpu, rss

    def close(self) -> None:
        pass


def make_probe(device: str) -> Any:
    """NVML for a CUDA device when the driver answers; otherwise the process's CPU and RSS."""
    if device.startswith("cuda"):
        try:
            return _NvmlProbe(int(device.split(":")[1]) if ":" in device else 0)
        except Exception:  # noqa: BLE001 - no NVML: fall back to CPU figures rather than fail the run
            pass
    return _CpuProbe()


class MetricsSampler:
    """Samples in a daemon thread; `drain()` hands over what was collected since the last call."""

    def __init__(self, device: str = "cpu", hz: float = SAMPLE_HZ) -> None:
        self._probe = make_probe(device)
        self._interval = 1.0 / hz
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tokenlat-metrics", daemon=True)
        self.latest: Sample | None = None
        """The newest sample, for live displays."""

    def start(self) -> MetricsSampler:
        self._thread.start()
        return self

    __enter__ = start

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)
        self._probe.close()

    def drain(self) -> list[Sample]:
        with self._lock:
            samples, self._samples = self._samples, []
        return samples

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                sample = (time.time(), *self._probe.read())
            except Exception:  # noqa: BLE001 - a failed read (GPU lost, process gone) ends sampling, not the run
                return
            self.latest = sample
            with self._lock:
                self._samples.append(sample)
