"""Answer metrics: SQuAD's official exact match and token F1, answer containment, and the abstention threshold.

``normalize_answer``, ``exact_match`` and ``token_f1`` follow the official SQuAD v1.1 evaluation script
(lowercase, drop punctuation, drop the articles a/an/the, collapse whitespace; F1 over the multiset of tokens;
the best score over all gold answers).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)
_CITATION = re.compile(r"\s*\[\d+(?:\s*[,–-]\s*\d+)*\]")
_QUOTE_MARKER = re.compile(r"^>\s?", re.MULTILINE)

TARGET_RATE = 0.8
"""The targets: abstain on ≥ 80 % of unanswerable questions and answer ≥ 80 % of answerable ones."""


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lowercase, no punctuation, no articles, single spaces."""
    lowered = text.lower()
    no_punctuation = "".join(ch for ch in lowered if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", no_punctuation).split())


def strip_citations(text: str) -> str:
    """The reply without its ``[1]``/``[2][3]`` citation markers and Markdown quote markers."""
    return _QUOTE_MARKER.sub("", _CITATION.sub("", text)).strip()


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    predicted = normalize_answer(prediction).split()
    wanted = normalize_answer(gold).split()
    common = Counter(predicted) & Counter(wanted)
    shared = sum(common.values())
    if shared == 0:
        return 0.0
    precision = shared / len(predicted)
    recall = shared / len(wanted)
    return 2 * precision * recall / (precision + recall)


def best_exact_match(prediction: str, golds: Iterable[str]) -> float:
    return max((exact_match(prediction, gold) for gold in golds), default=0.0)


def best_token_f1(prediction: str, golds: Iterable[str]) -> float:
    return max((token_f1(prediction, gold) for gold in golds), default=0.0)


def contains_answer(reply: str, golds: Iterable[str]) -> bool:
    """Whether any gold answer appears in the reply, both normalised, on token boundaries."""
    haystack = f" {normalize_answer(reply)} "
    return any(f" {needle} " in haystack for needle in (normalize_answer(g) for g in golds) if needle)


# --- the abstention threshold -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scored:
    """One question's best passage similarity and whether it should be answered (True) or refused (False)."""

    similarity: float | None
    answerable: bool


@dataclass(frozen=True, slots=True)
class ThresholdRates:
    threshold: float
    answerable: int
    unanswerable: int
    answer_rate: float
    """Share of answerable questions answered (best similarity ≥ threshold)."""
    abstention_rate: float
    """Share of unanswerable questions refused (best similarity < threshold, or nothing found)."""
    balanced_accuracy: float
    """The mean of the two rates."""


def answers_at(similarity: float | None, threshold: float) -> bool:
    """The agent's rule (``agent.nodes.decide``): answer when the best passage is at least this similar."""
    return similarity is not None and similarity >= threshold


def answered_share(similarities: Sequence[float | None], threshold: float) -> float:
    if not similarities:
        return 0.0
    return round(sum(answers_at(s, threshold) for s in similarities) / len(similarities), 4)


def rates_at(samples: Sequence[Scored], threshold: float) -> ThresholdRates:
    answerable = [s.similarity for s in samples if s.answerable]
    unanswerable = [s.similarity for s in samples if not s.answerable]
    answer_rate = answered_share(answerable, threshold)
    abstention_rate = round(1 - answered_share(unanswerable, threshold), 4) if unanswerable else 0.0
    return ThresholdRates(
        threshold=threshold,
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        answer_rate=answer_rate,
        abstention_rate=abstention_rate,
        balanced_accuracy=round((answer_rate + abstention_rate) / 2, 4),
    )


def threshold_grid(step: float = 0.005) -> list[float]:
    """Candidate thresholds: -1 to 1 in ``step`` increments, rounded so they read well as a setting."""
    count = round(2 / step)
    return [round(-1 + i * step, 4) for i in range(count + 1)]


def choose_threshold(samples: Sequence[Scored], *, step: float = 0.005) -> ThresholdRates:
    """The grid threshold with the best balanced accuracy (mean of the answer rate on answerable questions and
    the abstention rate on unanswerable ones). Ties take the middle of the tied thresholds, the value with the
    most room on both sides."""
    if not any(s.answerable for s in samples) or all(s.answerable for s in samples):
        raise ValueError("choosing a threshold needs both answerable and unanswerable questions")
    scored = [rates_at(samples, t) for t in threshold_grid(step)]
    best = max(r.balanced_accuracy for r in scored)
    tied = [r for r in scored if r.balanced_accuracy == best]
    return tied[len(tied) // 2]
