"""Answer metrics (SQuAD EM/F1, containment), the abstention-threshold choice, and reading MTRAG tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.answers.metrics import (
    Scored,
    best_exact_match,
    best_token_f1,
    choose_threshold,
    contains_answer,
    exact_match,
    normalize_answer,
    rates_at,
    strip_citations,
    token_f1,
)
from evals.answers.threshold import half_of
from evals.load.answer_sets import load_mtrag


def test_normalisation_drops_case_punctuation_articles_and_extra_spaces() -> None:
    assert normalize_answer("  The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an Apple, a day") == "apple day"
    assert normalize_answer("Theatre") == "theatre"  # articles only as whole words


def test_exact_match_and_f1_follow_the_official_squad_script() -> None:
    assert exact_match("the Denver Broncos.", "Denver Broncos") == 1.0
    assert exact_match("Broncos", "Denver Broncos") == 0.0
    # prediction "denver broncos won" vs gold "denver broncos": precision 2/3, recall 1 → F1 0.8
    assert token_f1("Denver Broncos won", "Denver Broncos") == pytest.approx(0.8)
    assert token_f1("Carolina Panthers", "Denver Broncos") == 0.0
    assert token_f1("", "Denver Broncos") == 0.0
    golds = ["Santa Clara, California", "Levi's Stadium"]
    assert best_exact_match("Levi's Stadium", golds) == 1.0
    # 6 prediction tokens; "levis stadium": P 2/6, R 1 → F1 0.5 beats "santa clara california": P 2/6, R 2/3 → 0.444
    assert best_token_f1("at Levi's Stadium in Santa Clara", golds) == pytest.approx(0.5)
    assert best_exact_match("anything", []) == 0.0


def test_citations_and_quote_markers_are_stripped_before_scoring() -> None:
    assert strip_citations("The Denver Broncos [1] won [2][3].") == "The Denver Broncos won."
    assert strip_citations("> quoted line [1]\n> next [1, 2]") == "quoted line\nnext"
    assert exact_match(strip_citations("Denver Broncos [1]"), "Denver Broncos") == 1.0


def test_containment_is_normalised_and_on_word_boundaries() -> None:
    reply = "> In the end, the Denver Broncos beat the Carolina Panthers 24–10. [1]"
    assert contains_answer(reply, ["denver broncos"])
    assert contains_answer(reply, ["Nobody", "Carolina Panthers"])
    assert not contains_answer(reply, ["Broncos Carolina"])
    assert not contains_answer("The year 2016 was", ["201"])  # not a whole token
    assert not contains_answer(reply, [])
    assert not contains_answer(reply, ["the"])  # normalises to nothing


def test_threshold_rates_follow_the_agents_rule() -> None:
    samples = [Scored(0.6, True), Scored(0.4, True), Scored(None, True), Scored(0.5, False), Scored(0.2, False)]
    rates = rates_at(samples, 0.4)  # answers when similarity ≥ 0.4; nothing retrieved never answers
    assert (rates.answerable, rates.unanswerable) == (3, 2)
    assert rates.answer_rate == pytest.approx(2 / 3, abs=1e-4)
    assert rates.abstention_rate == 0.5
    assert rates.balanced_accuracy == pytest.approx((2 / 3 + 0.5) / 2, abs=1e-4)


def test_choose_threshold_maximises_balanced_accuracy_and_takes_the_middle_of_ties() -> None:
    # Separable: answerable ≥ 0.50, unanswerable ≤ 0.30. Every threshold in (0.30, 0.50] is perfect; the
    # middle of that plateau on the 0.005 grid is 0.405.
    samples = [Scored(s, True) for s in (0.5, 0.55, 0.7)] + [Scored(s, False) for s in (0.1, 0.25, 0.3)]
    chosen = choose_threshold(samples)
    assert chosen.balanced_accuracy == 1.0
    assert chosen.threshold == pytest.approx(0.405)
    # Overlapping: one answerable question scores below an unanswerable one; the best keeps the larger class right.
    overlapping = [Scored(s, True) for s in (0.2, 0.5, 0.6, 0.7)] + [Scored(s, False) for s in (0.1, 0.3)]
    best = choose_threshold(overlapping)
    assert best.balanced_accuracy == pytest.approx((0.75 + 1.0) / 2)
    assert 0.3 < best.threshold <= 0.5
    with pytest.raises(ValueError, match="both"):
        choose_threshold([Scored(0.5, True)])


def test_the_split_is_by_conversation_and_deterministic() -> None:
    halves = [half_of(f"conversation-{i}") for i in range(200)]
    assert halves == [half_of(f"conversation-{i}") for i in range(200)]
    assert 60 < halves.count("tune") < 140


def test_mtrag_tasks_pair_earlier_turns_and_deduplicate_passages(tmp_path: Path) -> None:
    rows = [
        {
            "conversation_id": "c1",
            "task_id": "c1<::>3",
            "input": [
                {"speaker": "user", "text": "Tell me about the tower."},
                {"speaker": "agent", "text": "It is in Paris."},
                {"speaker": "user", "text": "When was it built?"},
            ],
            "contexts": [{"document_id": "d1", "title": "Eiffel Tower", "text": "\nBuilt in 1889."}],
            "targets": [{"speaker": "agent", "text": "In 1889."}],
            "answerability": ["ANSWERABLE"],
            "Collection": "clapnq",
        },
        {
            "conversation_id": "c2",
            "task_id": "c2<::>1",
            "input": [{"speaker": "user", "text": "Best pizza in town?"}],
            "contexts": [{"document_id": "d1", "text": "Built in 1889."}],
            "targets": [{"text": "I don't know."}],
            "answerability": ["UNANSWERABLE"],
            "Collection": "clapnq",
        },
    ]
    path = tmp_path / "reference.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    dataset = load_mtrag(path)
    assert [d.source_uri for d in dataset.documents] == ["d1"]
    assert dataset.documents[0].title == "Eiffel Tower"
    assert dataset.documents[0].text == "Built in 1889."
    first, second = dataset.tasks
    assert first.history == (("Tell me about the tower.", "It is in Paris."),)
    assert first.question == "When was it built?"
    assert (first.answerability, first.targets, first.context_ids) == ("ANSWERABLE", ("In 1889.",), ("d1",))
    assert second.history == ()
    assert second.answerability == "UNANSWERABLE"
