"""Question sets with reference answers, in their published formats: SQuAD v1.1 JSON and MTRAG generation tasks.

The SQuAD corpus and gold paragraphs are the retrieval evaluation's (``evals.load.retrieval_sets``), so both
evaluations index the same documents and share the corpus embedding cache.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.load.retrieval_sets import EvalSet, load_squad
from knowledge.documents import SourceDocument
from knowledge.errors import KnowledgeError

ANSWERABILITY_CLASSES = ("ANSWERABLE", "PARTIAL", "UNDERSPECIFIED", "UNANSWERABLE")


@dataclass(frozen=True, slots=True)
class SquadQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    gold_uri: str
    """The source URI of the paragraph the question was written from."""


@dataclass(frozen=True, slots=True)
class SquadAnswerSet:
    corpus: EvalSet
    questions: list[SquadQuestion]

    @property
    def name(self) -> str:
        return self.corpus.name


def load_squad_answers(path: Path) -> SquadAnswerSet:
    """SQuAD v1.1 JSON: every paragraph is a document; each question keeps its gold answers and paragraph."""
    corpus = load_squad(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    answers = {
        str(qa["id"]): tuple(dict.fromkeys(str(a["text"]) for a in qa.get("answers", [])))
        for article in data["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }
    questions = [
        SquadQuestion(id=q.id, question=q.text, answers=answers.get(q.id, ()), gold_uri=next(iter(q.relevant)))
        for q in corpus.queries
    ]
    return SquadAnswerSet(corpus=corpus, questions=questions)


@dataclass(frozen=True, slots=True)
class MtragTask:
    task_id: str
    conversation_id: str
    history: tuple[tuple[str, str], ...]
    """The earlier turns as (user message, agent reply) pairs, oldest first."""
    question: str
    """The user's last message: what the agent is asked."""
    answerability: str
    """ANSWERABLE, PARTIAL, UNDERSPECIFIED or UNANSWERABLE."""
    domain: str
    context_ids: tuple[str, ...]
    """The reference passages' document ids (none for unanswerable tasks)."""
    targets: tuple[str, ...]
    """Reference answers."""


@dataclass(frozen=True, slots=True)
class MtragSet:
    name: str
    documents: list[SourceDocument]
    """The union of every task's reference passages, one document each (source URI = document_id)."""
    tasks: list[MtragTask]

    @property
    def corpus(self) -> EvalSet:
        return EvalSet(name=self.name, documents=self.documents, queries=[])


def _pairs(turns: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """User/agent turns → (question, reply) pairs; consecutive messages of one speaker are joined."""
    pairs: list[tuple[str, str]] = []
    question, reply = "", ""
    for turn in turns:
        said = str(turn.get("text") or "").strip()
        if turn.get("speaker") == "user":
            if reply:
                pairs.append((question, reply))
                question, reply = "", ""
            question = f"{question}\n{said}".strip()
        else:
            reply = f"{reply}\n{said}".strip()
    if reply:
        pairs.append((question, reply))
    return tuple((q or "(no question)", r) for q, r in pairs)


def _task(row: dict[str, Any], line: int) -> MtragTask:
    turns = list(row.get("input") or [])
    if not turns or turns[-1].get("speaker") != "user" or not str(turns[-1].get("text") or "").strip():
        raise KnowledgeError(f"MTRAG line {line}: the conversation does not end with a user message")
    answerability = [str(a).upper() for a in row.get("answerability") or []]
    return MtragTask(
        task_id=str(row["task_id"]),
        conversation_id=str(row["conversation_id"]),
        history=_pairs(turns[:-1]),
        question=str(turns[-1]["text"]).strip(),
        answerability=answerability[0] if answerability else "UNKNOWN",
        domain=str(row.get("Collection") or ""),
        context_ids=tuple(str(c["document_id"]) for c in row.get("contexts") or []),
        targets=tuple(str(t.get("text") or "") for t in row.get("targets") or [] if t.get("text")),
    )


def load_mtrag(path: Path) -> MtragSet:
    """MTRAG generation tasks (``reference.jsonl``): one task a line; the corpus is every task's ``contexts``,
    deduplicated by ``document_id``."""
    if not path.is_file():
        raise KnowledgeError(f"{path} not found; pass MTRAG's generation_tasks/reference.jsonl")
    documents: dict[str, SourceDocument] = {}
    tasks: list[MtragTask] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                tasks.append(_task(row, number))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
                raise KnowledgeError(f"{path.name} line {number} is not an MTRAG task: {error}") from error
            for context in row.get("contexts") or []:
                uri = str(context["document_id"])
                if uri not in documents:
                    title, body = str(context.get("title") or ""), str(context.get("text") or "").strip()
                    documents[uri] = SourceDocument(source_uri=uri, title=title, text=body)
    return MtragSet(name=f"mtrag:{path.name}", documents=list(documents.values()), tasks=tasks)
