"""`model/` is core code: it never imports the UI, and importing it costs nothing until it is used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each check runs in a fresh interpreter

REPO_ROOT = Path(__file__).resolve().parents[1]


def loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    return set(result.stdout.split())


def test_model_never_imports_textual() -> None:
    modules = loaded_after(
        "import model, model.evaluation, model.forecast, model.saved, model.report\n"
        "import pandas as pd\n"
        "frame = pd.DataFrame({'Prompt_ID': ['a'] * 3, 'Input_Token_Length': 4, 'Context_Size': [4, 5, 6],\n"
        "                      'Token_Index_k': [1, 2, 3], 'Per_Token_Latency_ms': [9.0, 2.0, 2.1]})\n"
        "model.latency_curve(model.fit_predictor(frame), 4, 4, 64)")
    assert "model.forecast" in modules
    assert not any(name == "textual" or name.startswith("textual.") for name in modules)


def test_importing_model_loads_no_heavy_libraries() -> None:
    # the estimator and the CLI import `model` for small things; fits pay for pandas and sklearn
    modules = loaded_after("import model")
    assert not {"pandas", "sklearn", "scipy", "torch"} & modules
