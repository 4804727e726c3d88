"""Which passages an extractive answer quotes: the ranker's best whatever its similarity, then the next ones that
are at the threshold and nearly as close."""

from __future__ import annotations

from agent.extract_answer import EXTRACT_SOURCES, passages_to_quote
from knowledge.search import SearchHit


def hit(chunk_id: int, similarity: float | None) -> SearchHit:
    return SearchHit(
        chunk_id, chunk_id, "docs", "Guide", "Guide", f"guide-{chunk_id}.md", "Text.", 1.0, similarity, 1, 1
    )


def quoted(hits: list[SearchHit], threshold: float = 0.465) -> list[int]:
    return [h.chunk_id for h in passages_to_quote(hits, threshold=threshold)]


def test_the_best_hit_is_quoted_even_below_the_threshold() -> None:
    # Found by the words of a pasted error message, it resembles the question less than the vaguer page after it.
    assert quoted([hit(1, 0.447), hit(2, 0.521), hit(3, 0.30)]) == [1, 2]


def test_the_next_hits_must_reach_the_threshold_and_be_nearly_as_close_as_the_best() -> None:
    assert quoted([hit(1, 0.70), hit(2, 0.62), hit(3, 0.59), hit(4, 0.69)]) == [1, 2]
    assert quoted([hit(1, 0.50), hit(2, 0.46), hit(3, 0.47)]) == [1, 3]
    assert quoted([hit(1, None), hit(2, None)]) == [1]  # keyword search alone gives no similarity


def test_at_most_a_few_passages_are_quoted() -> None:
    hits = [hit(i, 0.6) for i in range(1, 8)]
    assert quoted(hits) == list(range(1, EXTRACT_SOURCES + 1))
    assert quoted([]) == []
