"""The machine's noise (issue 17): `doctor`, the record stored with every session, and the GPU checks
(a stand-in NVML: no NVIDIA driver here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from conftest import run_cli
from profiler.backends import ScriptedBackend
from profiler.collect import Collector, RunSettings
from profiler.machine_noise import BUSY_PROCESS_PCT, gpu_findings, noisy_summary, snapshot, window_findings
from profiler.records import DECODE, PREFILL, SessionMeta, TokenRecord
from profiler.store import SessionStore

MACHINE_KEYS = ["load", "steal", "busy_processes", "governor", "gpu"]
"""What `doctor` reports on a machine without an NVIDIA GPU, in order."""


def busy_loop() -> subprocess.Popen:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)  # running before the check starts its window
    return busy


@pytest.mark.slow
def test_doctor_prints_one_line_per_finding_and_exits_0(private_data_dir):
    result = run_cli("doctor", data_dir=private_data_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":", 1)[0] for line in lines[:-1]] == MACHINE_KEYS
    for line in lines[:-1]:
        assert line.split(": ")[1] in ("ok", "noisy", "unknown"), line
        if ": noisy: " in line:
            assert " — " in line, f"a noisy finding says what to do: {line}"
    assert "noisy finding" in lines[-1] or lines[-1].startswith("quiet")
    shown = run_cli("doctor", "--json", data_dir=private_data_dir)
    assert shown.returncode == 0
    record = json.loads(shown.stdout)
    assert [f["key"] for f in record["findings"]] == MACHINE_KEYS
    assert record["noisy"] == any(f["noisy"] for f in record["findings"])


@pytest.mark.slow
def test_doctor_flags_a_busy_process(private_data_dir):
    busy = busy_loop()
    try:
        result = run_cli("doctor", data_dir=private_data_dir)
    finally:
        busy.kill()
        busy.wait()
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("busy_processes:")]
    assert line.startswith("busy_processes: noisy: ") and "taskset" in line, result.stdout
    assert "noisy finding" in result.stdout.splitlines()[-1]


@pytest.mark.slow
def test_doctor_json_names_the_busy_process(private_data_dir):
    busy = busy_loop()
    try:
        result = run_cli("doctor", "--json", data_dir=private_data_dir)
    finally:
        busy.kill()
        busy.wait()
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    (processes,) = [f for f in record["findings"] if f["key"] == "busy_processes"]
    shares = {p["pid"]: p["cpu_pct"] for p in processes["value"]}
    assert processes["noisy"] and record["noisy"] and shares[busy.pid] > BUSY_PROCESS_PCT


def test_a_busy_process_in_a_window_is_named_and_this_process_is_not():
    busy = busy_loop()
    try:
        start = snapshot()
        deadline = time.perf_counter() + 0.4
        while time.perf_counter() < deadline:  # this process is busy too, but it is the measurement
            pass
        end = snapshot()
    finally:
        busy.kill()
        busy.wait()
    steal, processes = window_findings(start, end)
    assert steal.key == "steal" and processes.key == "busy_processes"
    shares = {p["pid"]: p["cpu_pct"] for p in processes.value}
    # on a loaded box other processes may outrank it in the top 3 the line names, not in the value
    assert shares[busy.pid] > BUSY_PROCESS_PCT and os.getpid() not in shares
    assert processes.noisy


def test_every_session_stores_the_noise_over_its_run(private_data_dir):
    store = SessionStore()
    settings = RunSettings(max_new_tokens=4, ignore_eos=True, warmup=0, system_metrics=False)
    (outcome,) = Collector(ScriptedBackend(), store, settings).run(["p"])
    environment = store.get_session(outcome.session_id)["environment"]
    record = environment["machine_noise"]
    assert [f["key"] for f in record["findings"]] == ["load", "steal", "busy_processes", "governor"]  # CPU run
    assert record["noisy"] == any(f["noisy"] for f in record["findings"])
    assert (noisy_summary(record) is None) == (not record["noisy"])
    assert environment["backend"] == "scripted" and "timing" in environment  # the rest of the environment is kept


class FakeNvml:
    """pynvml's calls that gpu_findings makes, answering as a shared, unlocked, power-capped card would."""
    NVML_FEATURE_ENABLED = 1
    NVML_CLOCK_SM = 1

    def __init__(self, *, others=(4242,), persistence=0, app_clock=1410, power_mw=250_000):
        self.others, self.persistence, self.app_clock, self.power_mw = others, persistence, app_clock, power_mw
        self.shut = False

    def nvmlInit(self): pass
    def nvmlShutdown(self): self.shut = True
    def nvmlDeviceGetHandleByIndex(self, index): return f"gpu{index}"
    def nvmlDeviceGetComputeRunningProcesses(self, _h): return [SimpleNamespace(pid=p) for p in self.others]
    def nvmlDeviceGetGraphicsRunningProcesses(self, _h): return []
    def nvmlDeviceGetPersistenceMode(self, _h): return self.persistence
    def nvmlDeviceGetApplicationsClock(self, _h, _c): return self.app_clock
    def nvmlDeviceGetDefaultApplicationsClock(self, _h, _c): return 1410
    def nvmlDeviceGetMaxClockInfo(self, _h, _c): return 1980
    def nvmlDeviceGetPowerManagementLimit(self, _h): return self.power_mw
    def nvmlDeviceGetPowerManagementDefaultLimit(self, _h): return 400_000
    def nvmlDeviceGetEccMode(self, _h): raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")


def test_gpu_findings_name_what_disturbs_a_gpu_run():
    nvml = FakeNvml()
    findings = {f.key: f for f in gpu_findings(0, nvml)}
    assert list(findings) == ["gpu_processes", "persistence", "clocks", "power_limit", "ecc"]
    assert findings["gpu_processes"].noisy and findings["gpu_processes"].value == [4242]
    assert findings["persistence"].noisy and "nvidia-smi -pm 1" in findings["persistence"].advice
    assert findings["clocks"].noisy and "-lgc 1980" in findings["clocks"].advice
    assert findings["power_limit"].noisy and "250 W" in findings["power_limit"].text
    assert not findings["ecc"].known  # a field the card doesn't report is unknown, not an error
    assert nvml.shut


def test_a_well_set_gpu_is_quiet():
    nvml = FakeNvml(others=(os.getpid(),), persistence=1, app_clock=1980, power_mw=400_000)
    assert not any(f.noisy for f in gpu_findings(0, nvml))


def _records(wait_ms: float = 0.0) -> list[TokenRecord]:
    return [TokenRecord(k, 3 + k, 10.0 + k % 3, PREFILL if k == 1 else DECODE, k, "x", 1.75e9 + k,
                        cpu_wait_ms=wait_ms, preemptions=int(wait_ms > 0)) for k in range(1, 9)]


def _session_with_noise(store: SessionStore, noisy: bool, wait_ms: float) -> str:
    from profiler.machine_noise import Finding, noise_record

    writer = store.begin_session(SessionMeta(prompt="p", input_tokens=4, model="m"))
    for record in _records(wait_ms):
        writer.add_token(record)
    finding = Finding("load", "load average 9.00 / 9.00 / 9.00 on 2 CPUs" if noisy else "load 0.1", noisy)
    writer.finish(environment={"machine_noise": noise_record([finding])})
    return writer.session_id


def test_compare_notes_sides_that_ran_under_different_noise(private_data_dir):
    from tui.compare_view import load_comparison, notes

    store = SessionStore()
    quiet, also_quiet, noisy = (_session_with_noise(store, False, 0.0), _session_with_noise(store, False, 0.0),
                                _session_with_noise(store, True, 2.5))
    stored = store.get_session(noisy)["environment"]["machine_noise"]
    assert stored["noisy"] and stored["findings"][0]["key"] == "load"  # merged into the stored environment
    different = load_comparison(store, [[quiet], [noisy]], resamples=200)
    (line,) = [n for n in notes(different) if "machine noise" in n]
    assert f"{quiet[:8]} quiet, CPU wait 0.00 ms/token" in line and f"{noisy[:8]} noisy, CPU wait 2.50 ms/token" in line
    alike = load_comparison(store, [[quiet], [also_quiet]], resamples=200)
    assert not [n for n in notes(alike) if "machine noise" in n]


@pytest.mark.slow
def test_doctor_refuses_a_negative_gpu_index_in_one_line(private_data_dir):
    from conftest import assert_one_error_line

    assert_one_error_line(run_cli("doctor", "--gpu", "-1", data_dir=private_data_dir), "--gpu")


def test_compare_notes_a_side_that_ran_in_the_app(private_data_dir):
    from tui.compare_view import load_comparison, notes

    store = SessionStore()
    headless = _session_with_noise(store, False, 0.0)
    writer = store.begin_session(SessionMeta(prompt="p", input_tokens=4, model="m"))
    for record in _records():
        writer.add_token(record)
    writer.finish(environment={"app_settle": {"acknowledged": True, "ack_wait_ms": 12.0, "gap_ms": 50.0,
                                              "ack_timeout_s": 1.0}})
    loaded = load_comparison(store, [[headless], [writer.session_id]], resamples=200)
    (line,) = [n for n in notes(loaded) if "ran in the app" in n]
    assert line.startswith(f"{writer.session_id[:8]} ran in the app") and f"{headless[:8]} without it" in line


@pytest.mark.slow
def test_collect_prints_one_warning_line_on_a_noisy_machine(private_data_dir):
    busy = busy_loop()
    try:
        result = run_cli("collect", "hello", "--max-new-tokens", "4", "--warmup", "0", data_dir=private_data_dir)
    finally:
        busy.kill()
        busy.wait()
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "noisy machine" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: noisy machine"), result.stderr
    assert "busiest other processes" in warnings[0] and "tokenlat-tui doctor" in warnings[0]
