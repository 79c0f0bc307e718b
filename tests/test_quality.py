"""Output quality figures against a baseline: exact match, first divergence, ROUGE-L."""

from __future__ import annotations

import pytest

from model.quality import first_divergence, output_quality


def test_first_divergence_positions():
    assert first_divergence([1, 2, 3], [1, 2, 3]) is None
    assert first_divergence([1, 2, 3], [1, 9, 3]) == 2
    assert first_divergence([1, 2, 3], [1, 2]) == 3  # stopping early is a difference too
    assert first_divergence([], [4]) == 1


def test_quality_of_identical_and_changed_outputs():
    base_ids = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    cand_ids = [[1, 2, 3, 4], [5, 6, 0, 0], [9, 11]]
    base_text = ["the cat sat on the mat", "one two three four", "alpha beta"]
    cand_text = ["the cat sat on the mat", "one two five six", "alpha gamma"]
    quality = output_quality(base_ids, cand_ids, base_text, cand_text)
    assert quality.prompts == 3 and quality.exact_matches == 1
    assert quality.exact_match_rate == pytest.approx(1 / 3)
    assert quality.mean_first_divergence == pytest.approx((3 + 2) / 2)
    # ROUGE-L F1: 1.0, LCS 2 of 4 words (0.5), LCS 1 of 2 words (0.5)
    assert quality.rouge_l_f1 == pytest.approx((1.0 + 0.5 + 0.5) / 3)
    same = output_quality(base_ids, base_ids, base_text, base_text)
    assert same.exact_match_rate == 1.0 and same.mean_first_divergence is None and same.rouge_l_f1 == 1.0
    with pytest.raises(ValueError):
        output_quality(base_ids, cand_ids[:2], base_text, cand_text)
