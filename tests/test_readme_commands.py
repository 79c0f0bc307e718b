"""Every command block of the README runs as written (issue 10, item 6).

Each ```bash / ```sh / ```console block is run by bash (`set -euo pipefail`: every line must
succeed) against a fresh TOKENLAT_DATA_DIR, in a fresh directory holding a copy of `examples/` (as a
checkout's root does), with `tokenlat-tui` meaning this checkout. A block is skipped only when the
README says, in an HTML comment right above it, that it needs a GPU or a network:

    <!-- no-test: needs a GPU -->

Any other reason is refused, so a broken example can't be waved through.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, cli_env

README = REPO_ROOT / "README.md"
BLOCK = re.compile(r"(?:<!--\s*no-test:(?P<why>[^>]*?)-->\s*\n)?^```(?P<lang>bash|sh|console)[ \t]*\n(?P<body>.*?)^```",
                   re.S | re.M)
ALLOWED_SKIP = re.compile(r"\b(GPU|network)\b")


def readme_blocks(text: str) -> list[tuple[str, str, str | None]]:
    """(name, script, skip reason or None) for each command block, named after the heading above it."""
    blocks = []
    for match in BLOCK.finditer(text):
        headings = re.findall(r"^#+\s+(.+)$", text[:match.start()], re.M)
        heading = headings[-1].strip() if headings else "top"
        body = match["body"]
        if match["lang"] == "console":  # '$ command' lines; the rest is output
            body = "\n".join(line[2:] for line in body.splitlines() if line.startswith("$ "))
        name = f"{heading} #{sum(1 for b in blocks if b[0].startswith(heading + ' #')) + 1}"
        blocks.append((name, body, match["why"].strip() if match["why"] is not None else None))
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_command_blocks_and_skips_only_for_a_gpu_or_a_network():
    assert len(BLOCKS) >= 8
    for name, _body, why in BLOCKS:
        if why is not None:
            assert ALLOWED_SKIP.search(why), f"{name}: a block may be skipped only for a GPU or a network, not {why!r}"
    runnable = [name for name, _body, why in BLOCKS if why is None]
    assert len(runnable) >= len(BLOCKS) // 2, runnable


def test_block_extraction_reads_markers_and_console_prompts():
    sample = ("# A\n\n<!-- no-test: needs a GPU -->\n```bash\nnvidia-smi\n```\n\n## B\n\n"
              "```console\n$ echo hi\nhi\n```\n\n```python\nprint(1)\n```\n")
    assert readme_blocks(sample) == [("A #1", "nvidia-smi\n", "needs a GPU"), ("B #1", "echo hi", None)]


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in BLOCKS if b[2] is None], ids=[b[0] for b in BLOCKS if b[2] is None])
def test_readme_block_runs(block, tmp_path):
    name, body, _why = block
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(REPO_ROOT / "examples", work / "examples")
    # `tokenlat-tui` is this checkout, whatever else is installed
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "tokenlat-tui"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tui "$@"\n')
    shim.chmod(0o755)
    env = cli_env(tmp_path / "data")
    env["PATH"] = f"{bin_dir}:{Path(sys.executable).parent}:{env.get('PATH', '')}"
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + body], cwd=work, env=env, capture_output=True,
                            text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"README block {name!r} failed (rc {result.returncode}):\n{body}\n" \
                                   f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
