"""Output quality of a configuration against the baseline's outputs on the same prompts (greedy).

An optimisation (quantisation, compilation, another attention kernel) should change speed, not text.
Three figures say how far it moved the text:
- exact-match rate: outputs identical to the baseline's, token for token;
- first divergence: the 1-based token position where an output first differs (mean over the
  outputs that differ; identical outputs have none), which says whether a change shows at once or
  only after long generation, as accumulated rounding does;
- ROUGE-L F1 of the texts (rouge-score's longest-common-subsequence measure, as the seed planned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class OutputQuality:
    prompts: int
    exact_matches: int
    mean_first_divergence: float | None
    """Mean 1-based position of the first differing token over differing outputs; None if all match."""
    rouge_l_f1: float
    """Mean ROUGE-L F1 over prompts (1.0 = identical)."""

    @property
    def exact_match_rate(self) -> float:
        return self.exact_matches / self.prompts if self.prompts else 0.0


def first_divergence(baseline: Sequence, candidate: Sequence) -> int | None:
    """1-based index of the first position where the sequences differ (a length difference counts)."""
    for index, (a, b) in enumerate(zip(baseline, candidate), 1):
        if a != b:
            return index
    if len(baseline) != len(candidate):
        return min(len(baseline), len(candidate)) + 1
    return None


def output_quality(baseline_tokens: Sequence[Sequence[int]], candidate_tokens: Sequence[Sequence[int]],
                   baseline_texts: Sequence[str], candidate_texts: Sequence[str]) -> OutputQuality:
    """Compare outputs prompt by prompt; the four sequences are in the same prompt order."""
    if not (len(baseline_tokens) == len(candidate_tokens) == len(baseline_texts) == len(candidate_texts)):
        raise ValueError("baseline and candidate need one output per prompt, in the same order")
    from rouge_score import rouge_scorer  # deferred: only comparisons need it

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    divergences = [first_divergence(a, b) for a, b in zip(baseline_tokens, candidate_tokens)]
    differing = [d for d in divergences if d is not None]
    # identical texts score 1.0 even when rouge-score's tokenizer (lowercase letters and digits only)
    # finds no word in them, as in byte-level output of random weights: it would say 0.0
    rouge = [scorer.score(a, b)["rougeL"].fmeasure if a != b else 1.0
             for a, b in zip(baseline_texts, candidate_texts)]
    return OutputQuality(
        prompts=len(divergences),
        exact_matches=sum(d is None for d in divergences),
        mean_first_divergence=sum(differing) / len(differing) if differing else None,
        rouge_l_f1=sum(rouge) / len(rouge) if rouge else 1.0,
    )


__all__ = ["OutputQuality", "first_divergence", "output_quality"]
