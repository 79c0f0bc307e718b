"""Import boundaries (issue 2 §1, §6): the core never pulls in textual; `--help` never pulls in torch.

Each check runs in a fresh interpreter, so modules other tests imported can't hide a violation.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, cli_env

pytestmark = pytest.mark.slow  # each check runs in a fresh interpreter

CORE_IMPORTS = r"""
import importlib, json, pkgutil, sys
import profiler, profiler.collect, profiler.store, profiler.decode_loop, model
failed = {}
for package in (profiler, model):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # report, don't hide: a broken module is a finding too
            failed[info.name] = f"{type(exc).__name__}: {exc}"
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("profiler", "model"))
print(json.dumps({"textual": sorted(m for m in sys.modules if m == "textual" or m.startswith("textual.")),
                  "loaded": loaded, "failed": failed}))
"""

HELP_IMPORTS = r"""
import contextlib, io, json, sys
from tui.cli import build_parser, main
build_parser()
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(["--help"])
    except SystemExit as exit:
        code = exit.code
for command in ("collect", "sessions", "show", "delete"):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main([command, "--help"])
        except SystemExit:
            pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers", "textual", "pandas", "sklearn"})
print(json.dumps({"code": code, "help": out.getvalue(), "heavy": heavy}))
"""


def run_python(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=cli_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_profiler_and_model_import_without_textual():
    report = run_python(CORE_IMPORTS)
    assert report["textual"] == []
    assert "profiler.collect" in report["loaded"] and "profiler.store.writer" in report["loaded"]
    assert any(name.startswith("model.") for name in report["loaded"])
    assert report["failed"] == {}, report["failed"]


def test_help_imports_neither_torch_nor_transformers_nor_textual():
    report = run_python(HELP_IMPORTS)
    assert report["code"] == 0
    assert "collect" in report["help"] and "sessions" in report["help"]
    assert report["heavy"] == []


def test_help_subprocess_answers():
    result = subprocess.run([sys.executable, "-m", "tui", "--help"], cwd=REPO_ROOT, env=cli_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage:" in result.stdout and result.stderr == ""

FIRST_FRAME_IMPORTS = r"""
import asyncio, json, sys, tempfile
from profiler.store import SessionStore
from tui.app import make_app

async def first_frame():
    app = make_app(store=SessionStore(tempfile.mkdtemp()))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        # what the first frame needed, before the engine loads a model or a fit is asked for
        return sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers", "pandas", "sklearn"})

print(json.dumps({"heavy": asyncio.run(first_frame())}))
"""


def test_first_frame_imports_no_numerics():
    """pandas alone cost the first frame ~0.5 s (listing predictor names): names come from model/predictor_names."""
    import model.predictors  # noqa: F401 - its import checks the light name list against the classes

    report = run_python(FIRST_FRAME_IMPORTS)
    assert report["heavy"] == []
