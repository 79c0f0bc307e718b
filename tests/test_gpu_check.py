"""benchmarks/gpu_check.py runs here as a smoke test: its CPU checks pass, every GPU check it can't run
says why, and it answers in one JSON line with exit 0. On a machine with a GPU the same test asks that
no check failed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, cli_env

pytestmark = pytest.mark.slow

GPU_CHECKS = ("cuda_event_timing", "nvml_sampling", "bitsandbytes_8bit", "bitsandbytes_4bit", "static_compile",
              "random_weights_7b", "batch_sweep", "breakdown_cuda")
CPU_CHECKS = ("cpu_decode", "breakdown", "trace_export")


def test_the_gpu_check_answers_in_one_json_line(tmp_path):
    result = subprocess.run([sys.executable, "benchmarks/gpu_check.py"], cwd=REPO_ROOT,
                            env=cli_env(tmp_path / "unused"), capture_output=True, text=True, timeout=900)
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout + result.stderr
    report = json.loads(lines[0])
    assert result.returncode == (0 if report["fail"] == 0 else 1)
    checks = report["checks"]
    assert set(checks) == set(GPU_CHECKS + CPU_CHECKS)
    for name in CPU_CHECKS:
        assert checks[name]["status"] == "pass", (name, checks[name])
    assert checks["trace_export"]["tokens_exact_to_ns"] >= 16
    breakdown = checks["breakdown"]
    assert abs(breakdown["classes_ms"] - breakdown["step_ms"]) <= 0.1 * breakdown["step_ms"]
    if not report["prerequisites"]["cuda"]:
        assert result.returncode == 0 and report["status"] == "pass"
        for name in GPU_CHECKS:
            assert checks[name]["status"] == "skipped" and "CUDA" in checks[name]["reason"], (name, checks[name])
    else:
        assert report["fail"] == 0, {n: c for n, c in checks.items() if c["status"] == "fail"}
    assert not (tmp_path / "unused").exists()  # its store was a temporary folder of its own
