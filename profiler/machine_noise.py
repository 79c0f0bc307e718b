"""How noisy the machine is: what else competes with a measurement, found before a run and recorded with it.

A latency figure is the code's *and* the machine's. What this module looks at, each a `Finding` with
what to do about it:

- load average against the CPU count (how many threads wanted a CPU lately);
- steal time (`/proc/stat`): CPU time a VM's host gave to someone else, over a window;
- the busiest other processes (top 3 by CPU over a window: `psutil` cpu_times deltas, so a window
  costs two cheap snapshots, never a sleep inside a run);
- the CPU frequency governor, where `/sys` shows one (a powersave governor ramps clocks per burst);
- on an NVIDIA GPU (NVML): other processes on the GPU, persistence mode, whether the clocks are
  locked, the power limit against its default, ECC.

`tokenlat-tui doctor` prints every finding; `collect` prints one warning line when any is noisy;
each session stores `noise_record(...)` in its environment (`machine_noise`), over its own run.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LOAD_PER_CPU = 0.5
"""1-minute load average per CPU above which the machine counts as busy (others want its CPUs)."""
STEAL_PCT = 2.0
"""Steal above this share of CPU time: the hypervisor is taking time that shows up in latency tails."""
BUSY_PROCESS_PCT = 10.0
"""Another process using more than this share of one core over the window competes with the run."""
TOP_PROCESSES = 3
_GOVERNOR = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
_PROC_STAT = Path("/proc/stat")


@dataclass
class Finding:
    """One line of the check: what was found, whether it disturbs timings, and what to do about it."""
    key: str
    text: str
    noisy: bool = False
    advice: str = ""
    value: Any = None
    known: bool = True
    """False where this machine doesn't tell (no cpufreq in a VM, no NVML): neither ok nor noisy."""

    def line(self) -> str:
        mark = "noisy" if self.noisy else "ok" if self.known else "unknown"
        return f"{self.key}: {mark}: {self.text}" + (f" — {self.advice}" if self.advice else "")


@dataclass
class Snapshot:
    """CPU counters at one moment: enough to say later what happened between two of them."""
    wall: float
    cpu_times: dict[str, float]
    processes: dict[int, tuple[str, float]] = field(default_factory=dict)
    """pid -> (name, user + system CPU seconds so far)."""


def snapshot() -> Snapshot:
    """A few milliseconds: /proc/stat's cpu line and every process's CPU time so far."""
    import psutil

    processes = {}
    for process in psutil.process_iter(["name", "cpu_times"]):
        times = process.info.get("cpu_times")
        if times is not None:
            processes[process.pid] = (process.info.get("name") or "?", times.user + times.system)
    return Snapshot(time.monotonic(), _proc_stat_cpu(), processes)


def _proc_stat_cpu() -> dict[str, float]:
    """The aggregate `cpu` line of /proc/stat, in clock ticks (empty where /proc has none)."""
    try:
        first = _PROC_STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return {}
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {name: float(value) for name, value in zip(names, first[1:])}


def _exclusions() -> set[int]:
    """This process: its own work is the measurement, not noise. Its parent is not excluded: an app
    drawing while its engine decodes competes with it like any other process."""
    return {os.getpid()}


def window_findings(start: Snapshot, end: Snapshot, exclude: set[int] | None = None) -> list[Finding]:
    """Steal time and the busiest other processes between two snapshots."""
    exclude = _exclusions() | (exclude or set())
    elapsed = max(end.wall - start.wall, 1e-9)
    findings = []
    total = sum(end.cpu_times.values()) - sum(start.cpu_times.values())
    if total > 0 and "steal" in end.cpu_times:
        steal = 100.0 * (end.cpu_times["steal"] - start.cpu_times.get("steal", 0.0)) / total
        findings.append(Finding(
            "steal", f"{steal:.1f}% of CPU time taken by the hypervisor over {elapsed:.1f} s", steal > STEAL_PCT,
            "a VM shares its host: use a dedicated machine or instance, or expect wider tails" if steal > STEAL_PCT
            else "", round(steal, 2)))
    else:
        findings.append(Finding("steal", "not readable here (no /proc/stat)", known=False))
    busy = []
    for pid, (name, seconds) in end.processes.items():
        if pid in exclude or pid not in start.processes or start.processes[pid][0] != name:
            continue
        share = 100.0 * (seconds - start.processes[pid][1]) / elapsed
        if share > 0.5:
            busy.append({"pid": pid, "name": name, "cpu_pct": round(share, 1)})
    busy.sort(key=lambda p: p["cpu_pct"], reverse=True)
    top = busy[:TOP_PROCESSES]
    noisy = bool(top) and top[0]["cpu_pct"] > BUSY_PROCESS_PCT
    described = ", ".join(f"{p['name']} (pid {p['pid']}) {p['cpu_pct']:.0f}%" for p in top) or "none"
    # the line names the top 3; the value keeps every process that used the CPU, busiest first
    findings.append(Finding(
        "busy_processes", f"busiest other processes over {elapsed:.1f} s: {described} (% of one core)", noisy,
        "stop them, or keep the run off their cores (taskset)" if noisy else "", busy[:20]))
    return findings


def load_finding() -> Finding:
    cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()
    except OSError:
        return Finding("load", "load average not readable here", known=False)
    noisy = load[0] > LOAD_PER_CPU * cpus
    return Finding("load", f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {cpus} CPUs", noisy,
                   "other work wants these CPUs: stop it or run on a quiet machine" if noisy else "",
                   [round(v, 2) for v in load])


def governor_finding(path: Path = _GOVERNOR) -> Finding:
    try:
        governor = path.read_text().strip()
    except OSError:
        return Finding("governor", "CPU frequency governor not readable here (a VM, or no cpufreq)", known=False)
    noisy = governor != "performance"
    return Finding("governor", f"CPU frequency governor {governor}", noisy,
                   "clocks ramp per burst: `sudo cpupower frequency-set -g performance`" if noisy else "", governor)


def gpu_findings(index: int = 0, nvml: Any = None) -> list[Finding]:
    """Other GPU processes, persistence mode, locked clocks, power limit, ECC: one finding each.

    `nvml` is the pynvml module (tests pass a stand-in); with no NVML or no GPU, one finding says so.
    Every call is guarded: a field the card or driver doesn't report is said to be unknown.
    """
    try:
        if nvml is None:
            import pynvml as nvml
        nvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver, no library: a CPU machine, not an error
        return [Finding("gpu", "no NVIDIA GPU found (NVML unavailable): nothing to check", known=False)]
    try:
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
        except Exception:  # noqa: BLE001
            return [Finding("gpu", f"NVML answers but has no GPU {index}", known=False)]
        return [_gpu_processes(nvml, handle), _persistence(nvml, handle), _clocks(nvml, handle),
                _power(nvml, handle), _ecc(nvml, handle)]
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def _unknown(key: str, what: str) -> Finding:
    return Finding(key, f"{what} not reported by this GPU or driver", known=False)


def _gpu_processes(nvml, handle) -> Finding:
    try:
        running = list(nvml.nvmlDeviceGetComputeRunningProcesses(handle))
        running += list(nvml.nvmlDeviceGetGraphicsRunningProcesses(handle))
    except Exception:  # noqa: BLE001
        return _unknown("gpu_processes", "processes on the GPU")
    others = sorted({p.pid for p in running} - {os.getpid()})
    noisy = bool(others)
    return Finding("gpu_processes", f"other processes on the GPU: {', '.join(map(str, others)) or 'none'}", noisy,
                   "they share its SMs and memory bandwidth: stop them, or use another GPU" if noisy else "", others)


def _persistence(nvml, handle) -> Finding:
    try:
        enabled = nvml.nvmlDeviceGetPersistenceMode(handle) == nvml.NVML_FEATURE_ENABLED
    except Exception:  # noqa: BLE001
        return _unknown("persistence", "persistence mode")
    return Finding("persistence", f"persistence mode {'on' if enabled else 'off'}", not enabled,
                   "" if enabled else "the driver re-initialises the GPU between users: `sudo nvidia-smi -pm 1`",
                   enabled)


def _clocks(nvml, handle) -> Finding:
    try:
        current = nvml.nvmlDeviceGetApplicationsClock(handle, nvml.NVML_CLOCK_SM)
        default = nvml.nvmlDeviceGetDefaultApplicationsClock(handle, nvml.NVML_CLOCK_SM)
        maximum = nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_SM)
    except Exception:  # noqa: BLE001
        return _unknown("clocks", "clock settings")
    locked = current != default
    return Finding("clocks", f"SM application clock {current} MHz (default {default}, max {maximum}): "
                             f"{'set' if locked else 'not locked'}", not locked,
                   "" if locked else f"boost clocks move with heat and power: `sudo nvidia-smi -lgc {maximum}`",
                   {"sm_mhz": current, "default_mhz": default, "max_mhz": maximum, "locked": locked})


def _power(nvml, handle) -> Finding:
    try:
        limit = nvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000.0
        default = nvml.nvmlDeviceGetPowerManagementDefaultLimit(handle) / 1000.0
    except Exception:  # noqa: BLE001
        return _unknown("power_limit", "power limit")
    noisy = limit < default
    return Finding("power_limit", f"power limit {limit:.0f} W (default {default:.0f} W)", noisy,
                   "a lowered cap throttles the SM clock: `sudo nvidia-smi -pl DEFAULT`" if noisy else "",
                   {"limit_w": limit, "default_w": default})


def _ecc(nvml, handle) -> Finding:
    try:
        current, _pending = nvml.nvmlDeviceGetEccMode(handle)
    except Exception:  # noqa: BLE001
        return _unknown("ecc", "ECC mode")
    enabled = current == nvml.NVML_FEATURE_ENABLED
    return Finding("ecc", f"ECC {'on' if enabled else 'off'} (on costs some memory bandwidth: compare like with like)",
                   False, "", enabled)


def check_machine(window: tuple[Snapshot, Snapshot] | None = None, *, gpu_index: int | None = None,
                  nvml: Any = None, exclude: set[int] | None = None) -> list[Finding]:
    """Every finding, in a fixed order: load, steal, busy processes, governor, then the GPU's.

    Without a window, steal and busy processes are sampled over `SAMPLE_S` (the doctor can wait;
    a run passes the window it already has instead). The GPU is checked through NVML where present.
    """
    if window is None:
        start = snapshot()
        time.sleep(SAMPLE_S)
        window = (start, snapshot())
    return [load_finding(), *window_findings(*window, exclude=exclude), governor_finding(),
            *gpu_findings(gpu_index or 0, nvml)]


SAMPLE_S = 0.5
"""The doctor's sampling window when no run's window is at hand."""


def try_snapshot() -> Snapshot | None:
    """A snapshot, or None if the process table can't be read: noise is recorded, never fatal to a run."""
    try:
        return snapshot()
    except Exception:  # noqa: BLE001 - psutil missing or /proc unreadable: the run goes on unrecorded
        return None


def device_gpu_findings(device: str) -> list[Finding]:
    """`gpu_findings` for a torch device name ('cuda', 'cuda:1'); none for any other device."""
    if not device.startswith("cuda"):
        return []
    return gpu_findings(int(device.split(":")[1]) if device.startswith("cuda:") else 0)


def _findings_since(start: Snapshot | None, gpu: list[Finding]) -> list[Finding] | None:
    """`check_machine`'s findings over the window from `start` to now, or None if either end is unread."""
    end = try_snapshot()
    if start is None or end is None:
        return None
    return [load_finding(), *window_findings(start, end), governor_finding(), *gpu]


def session_noise(start: Snapshot | None, gpu: list[Finding] = ()) -> dict[str, Any] | None:
    """The noise record of a session that began at `start` and ends now (`gpu`: findings checked once
    per run, GPU runs only: NVML calls are too slow to repeat per session)."""
    findings = _findings_since(start, list(gpu))
    return None if findings is None else noise_record(findings)


def run_start_warning(start: Snapshot | None, device: str = "cpu") -> str | None:
    """The warning line for a run about to start, over the window since `start` (the CLI takes it
    before loading the model, so the check costs no waiting), or None on a quiet machine."""
    findings = _findings_since(start, device_gpu_findings(device))
    return None if findings is None else warning_line(findings)


def noise_record(findings: list[Finding]) -> dict[str, Any]:
    """What a session stores in its environment (`machine_noise`): noisy or not, and every finding."""
    return {"noisy": any(f.noisy for f in findings), "findings": [asdict(f) for f in findings]}


def noisy_summary(record: dict[str, Any] | None) -> str | None:
    """One line naming what was noisy in a stored record, or None when it was quiet (or not recorded)."""
    if not record or not record.get("noisy"):
        return None
    return "; ".join(f["text"] for f in record.get("findings", []) if f.get("noisy"))


def warning_line(findings: list[Finding]) -> str | None:
    """The one line `collect` prints before a run on a noisy machine, or None on a quiet one."""
    noisy = [f for f in findings if f.noisy]
    if not noisy:
        return None
    return ("warning: noisy machine, timings will carry it: " + "; ".join(f.text for f in noisy)
            + " (`tokenlat-tui doctor` says what to do)")


__all__ = ["Finding", "Snapshot", "check_machine", "device_gpu_findings", "gpu_findings", "noise_record", "noisy_summary", "run_start_warning",
           "session_noise", "snapshot", "try_snapshot", "warning_line", "window_findings"]
