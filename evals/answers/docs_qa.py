"""The docs-qa question set (``questions.jsonl``) and its scoring rules.

The rules are the data set's reference ones (``normalize``, ``keys_match``, ``source_hit`` and ``is_correct`` in its
``verify.py``), re-implemented here so the scores can be compared with any other system's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from knowledge.errors import KnowledgeError

Kind = Literal["answerable", "unanswerable", "followup"]
KINDS: tuple[Kind, ...] = ("answerable", "unanswerable", "followup")

_QUOTE_MARKERS = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class DocsQuestion:
    id: str
    kind: Kind
    turns: tuple[str, ...]
    """One question, or a follow-up's two turns (only the last is scored)."""
    keys: tuple[tuple[str, ...], ...] = ()
    """Alternatives: an answer is right when it holds every substring of any one of them."""
    sources: tuple[str, ...] = ()
    """Files that support the answer, relative to the corpus folder."""


def normalize(text: str) -> str:
    """No backticks, no leading ``>`` quote markers, whitespace collapsed, lowercase (``verify.normalize``)."""
    unquoted = _QUOTE_MARKERS.sub("", text.replace("\r\n", "\n"))
    return _WHITESPACE.sub(" ", unquoted.replace("`", "")).strip().lower()


def keys_match(keys: Sequence[Sequence[str]], answer: str) -> bool:
    text = normalize(answer)
    return any(all(normalize(key) in text for key in alternative) for alternative in keys)


def source_hit(cited: Sequence[str], sources: Sequence[str]) -> bool:
    """A cited path equals an expected source or ends with ``/`` + it (``verify.source_hit``)."""
    wanted = [s.replace("\\", "/").strip("/") for s in sources]
    paths = [c.replace("\\", "/") for c in cited]
    return any(path == w or path.endswith("/" + w) for path in paths for w in wanted)


def is_correct(question: DocsQuestion, outcome: str, answer: str) -> bool:
    """Unanswerable: refused. Otherwise answered with the keys in the text (a follow-up's second turn)."""
    if question.kind == "unanswerable":
        return outcome == "abstained"
    return outcome == "answered" and keys_match(question.keys, answer)


def _question(row: dict[str, Any]) -> DocsQuestion:
    kind = row["kind"]
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    turns = row["turns"] if kind == "followup" else [row["question"]]
    keys = row.get("keys") or []
    if not isinstance(turns, list) or not isinstance(keys, list):
        raise TypeError("turns and keys must be lists")
    if not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise ValueError("every turn must be a non-empty question")
    if kind != "unanswerable" and not keys:
        raise ValueError("an answerable question needs keys")
    return DocsQuestion(
        id=str(row["id"]),
        kind=kind,
        turns=tuple(str(t) for t in turns),
        keys=tuple(tuple(str(k) for k in alternative) for alternative in keys),
        sources=tuple(str(s) for s in row.get("sources") or []),
    )


def load_docs_questions(path: Path) -> list[DocsQuestion]:
    """One question a line; a broken line stops the run with its number rather than skewing the figures."""
    if not path.is_file():
        raise KnowledgeError(f"{path} not found; pass a docs-qa questions.jsonl")
    questions: list[DocsQuestion] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                questions.append(_question(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise KnowledgeError(f"{path.name} line {number} is not a docs-qa question: {error}") from error
    return questions
