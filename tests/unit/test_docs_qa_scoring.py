"""The docs-qa scoring rules, case by case, as the data set's reference ``verify.py`` applies them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.answers.docs_qa import DocsQuestion, is_correct, keys_match, load_docs_questions, normalize, source_hit
from knowledge.errors import KnowledgeError

ANSWERABLE = DocsQuestion(id="a", kind="answerable", turns=("q",), keys=(("Timeout(", "connect"),), sources=("t.md",))
UNANSWERABLE = DocsQuestion(id="u", kind="unanswerable", turns=("q",))
FOLLOWUP = DocsQuestion(id="f", kind="followup", turns=("q1", "q2"), keys=(("CPU * 2",),), sources=("g.rst",))


def test_normalize_drops_backticks_quote_markers_and_case_and_collapses_whitespace() -> None:
    assert normalize("> Use `httpx.Timeout(10.0,`\n>   connect=60.0)") == "use httpx.timeout(10.0, connect=60.0)"
    assert normalize("  > > nested\r\n\t>quoted") == "nested quoted"


@pytest.mark.parametrize(
    ("keys", "answer", "matches"),
    [
        ([["Timeout(", "connect"]], "httpx.TIMEOUT(10.0, CONNECT=60.0)", True),  # case-insensitive
        ([["Timeout(", "connect"]], "httpx.Timeout(10.0)", False),  # every substring of the alternative
        ([["nope"], ["CPU * 2"]], "start with `CPU * 2` workers", True),  # any one alternative
        ([["Timeout(10"]], "`Timeout`(10.0)", True),  # backticks removed before matching
        ([["workers = CPU * 2"]], "> a good start is workers =\n> CPU * 2", True),  # quote markers, re-wrapping
        ([["a -> b"]], "maps a -> b", True),  # only leading '>' markers go
        ([["a - b"]], "maps a -> b", False),
        ([["5 seconds"]], "", False),
    ],
)
def test_keys_match(keys: list[list[str]], answer: str, matches: bool) -> None:
    assert keys_match(keys, answer) is matches


def test_is_correct_by_kind() -> None:
    assert is_correct(UNANSWERABLE, "abstained", "anything")
    assert not is_correct(UNANSWERABLE, "answered", "anything")
    assert not is_correct(UNANSWERABLE, "error", "")
    assert is_correct(ANSWERABLE, "answered", "Timeout(connect=60)")
    # Refusing, or failing, is never a correct answer even when the text holds the keys.
    assert not is_correct(ANSWERABLE, "abstained", "Timeout(connect=60)")
    assert not is_correct(ANSWERABLE, "error", "Timeout(connect=60)")
    assert is_correct(FOLLOWUP, "answered", "> use cpu * 2")


@pytest.mark.parametrize(
    ("cited", "hit"),
    [
        (["t.md"], True),
        (["corpus/t.md"], True),  # ends with "/" + the source
        (["docs\\t.md"], True),  # Windows separators
        (["at.md"], False),  # a longer file name is another file
        (["t.md.bak", "other.md"], False),
        ([], False),
    ],
)
def test_source_hit(cited: list[str], hit: bool) -> None:
    assert source_hit(cited, ["/t.md"]) is hit


def test_load_docs_questions_reads_every_kind(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    rows = [
        {"id": "a1", "kind": "answerable", "question": "q?", "keys": [["k"]], "sources": ["x.md"]},
        {"id": "u1", "kind": "unanswerable", "question": "no?"},
        {"id": "f1", "kind": "followup", "turns": ["one?", "two?"], "keys": [["a", "b"]], "sources": ["y.md"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert load_docs_questions(path) == [
        DocsQuestion(id="a1", kind="answerable", turns=("q?",), keys=(("k",),), sources=("x.md",)),
        DocsQuestion(id="u1", kind="unanswerable", turns=("no?",)),
        DocsQuestion(id="f1", kind="followup", turns=("one?", "two?"), keys=(("a", "b"),), sources=("y.md",)),
    ]


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        json.dumps({"id": "x", "kind": "opinion", "question": "q"}),
        json.dumps({"id": "x", "kind": "answerable", "question": "q"}),  # no keys
        json.dumps({"id": "x", "kind": "followup", "turns": [], "keys": [["k"]]}),
    ],
)
def test_load_docs_questions_names_the_broken_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps({"id": "u", "kind": "unanswerable", "question": "q"}) + "\n" + line + "\n")
    with pytest.raises(KnowledgeError, match="line 2"):
        load_docs_questions(path)
