"""The shipped prompt set: enough prompts of each kind, a licence line, and a loader that refuses bad sets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from profiler.errors import InputError
from profiler.prompt_sets import DEFAULT_SET, load_prompt_set, shipped_sets


def test_default_set_has_fifty_varied_prompts_and_a_licence():
    prompts = load_prompt_set()
    assert len(prompts) >= 50
    assert len({p.text for p in prompts}) == len(prompts)  # no duplicates
    kinds = Counter(p.kind for p in prompts)
    lengths = Counter(p.length for p in prompts)
    assert kinds["prose"] >= 15 and kinds["code"] >= 15
    assert all(lengths[length] >= 10 for length in ("short", "medium", "long"))
    header = (Path(__file__).resolve().parents[1] / "profiler" / "prompt_sets" / f"{DEFAULT_SET}.txt").read_text()
    assert any(line.startswith("# License:") for line in header.splitlines())
    assert DEFAULT_SET in shipped_sets()


def test_plain_user_file_and_refusals(tmp_path: Path):
    plain = tmp_path / "mine.txt"
    plain.write_text("# my prompts\nfirst prompt\n\nsecond prompt\n", encoding="utf-8")
    assert [p.text for p in load_prompt_set(str(plain))] == ["first prompt", "second prompt"]
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(InputError, match="has no prompts"):
        load_prompt_set(str(empty))
    with pytest.raises(InputError, match="shipped sets: instructions-v1"):
        load_prompt_set(str(tmp_path / "missing.txt"))
