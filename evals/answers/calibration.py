"""Calibrating one collection's abstention threshold from a team's own labelled questions.

The default threshold was chosen on public data; a team's documents and ways of asking differ. A handful of
their questions, each marked answerable or not, is asked against the collection as it is; the threshold with
the best balanced accuracy on them is stored on the collection for the current answer mode (extractive or
LLM), where the agent reads it instead of ``AGENT_MIN_SIMILARITY``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.answers.asking import AgentUnderTest, eval_agent
from evals.answers.metrics import Scored, ThresholdRates, choose_threshold, rates_at
from evals.toolkit.progress import Progress, no_progress
from knowledge.errors import KnowledgeError
from knowledge.service import KnowledgeBase

MIN_EACH = 3
"""Answerable and unanswerable questions needed at least, each: fewer say nothing about where the line is."""
MAX_QUESTIONS = 2000


@dataclass(frozen=True, slots=True)
class LabelledQuestion:
    id: str
    turns: tuple[str, ...]
    """One question, or a conversation whose last turn is the one labelled."""
    answerable: bool


@dataclass
class CalibrationItem:
    id: str
    question: str
    answerable: bool
    evidence: float | None


@dataclass
class CalibrationReport:
    tenant: str
    collection: str
    mode: str
    """``extractive`` or ``llm``: evidence is scored differently in each, so each has its own threshold."""
    threshold: float
    chosen: ThresholdRates
    current: ThresholdRates
    """The same questions at the threshold in force before."""
    saved: bool
    items: list[CalibrationItem] = field(default_factory=list)


def _labelled(row: dict[str, Any], number: int) -> LabelledQuestion:
    if "answerable" in row:
        if not isinstance(row["answerable"], bool):
            raise TypeError('"answerable" must be true or false')
        answerable = row["answerable"]
    elif row.get("kind") in ("answerable", "followup", "unanswerable"):
        answerable = row["kind"] != "unanswerable"
    else:
        raise KeyError('each line needs "answerable": true|false (or a docs-qa "kind")')
    turns = row.get("turns") or [row.get("question")]
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
        raise ValueError('"question" (or "turns") must hold non-empty text')
    return LabelledQuestion(id=str(row.get("id", number)), turns=tuple(turns), answerable=answerable)


def load_labelled_questions(path: Path) -> list[LabelledQuestion]:
    """JSON Lines: ``{"question": "…", "answerable": true}`` (docs-qa lines with ``kind`` work too)."""
    if not path.is_file():
        raise KnowledgeError(f"{path} not found; pass a JSON Lines file of labelled questions")
    questions: list[LabelledQuestion] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                questions.append(_labelled(json.loads(line), number))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise KnowledgeError(f"{path.name} line {number}: {error}") from error
            if len(questions) > MAX_QUESTIONS:
                raise KnowledgeError(f"{path.name} has more than {MAX_QUESTIONS} questions; use a sample")
    answerable = sum(q.answerable for q in questions)
    if answerable < MIN_EACH or len(questions) - answerable < MIN_EACH:
        raise KnowledgeError(
            f"{path.name} has {answerable} answerable and {len(questions) - answerable} unanswerable questions; "
            f"calibrating needs at least {MIN_EACH} of each"
        )
    return questions


async def calibrate_collection(
    knowledge: KnowledgeBase,
    questions: list[LabelledQuestion],
    *,
    tenant: str,
    collection: str,
    under_test: AgentUnderTest,
    save: bool = True,
    progress: Progress = no_progress,
) -> CalibrationReport:
    """Ask every question (a conversation's turns in one thread) and choose the threshold on the last turns'
    evidence; store it on the collection unless ``save`` is False."""
    names = {c.name for c in await knowledge.collections(tenant=tenant)}
    if collection not in names:
        raise KnowledgeError(f"tenant {tenant!r} has no collection {collection!r}; ingest it first")
    mode = under_test.mode
    current = (await knowledge.thresholds(tenant=tenant, collections=[collection], mode=mode)).get(
        collection, under_test.settings.min_similarity
    )
    items: list[CalibrationItem] = []
    async with eval_agent(knowledge, collection=collection, under_test=under_test, tenant=tenant) as agent:
        for done, question in enumerate(questions, start=1):
            for turn in question.turns:
                asked = await agent.ask(turn, thread=question.id)
            items.append(CalibrationItem(question.id, question.turns[-1], question.answerable, asked.evidence))
            progress("asking the questions", done, len(questions))
    scored = [Scored(item.evidence, item.answerable) for item in items]
    chosen = choose_threshold(scored)
    if save:
        await knowledge.set_threshold(tenant=tenant, collection=collection, mode=mode, value=chosen.threshold)
    return CalibrationReport(
        tenant=tenant,
        collection=collection,
        mode=mode,
        threshold=chosen.threshold,
        chosen=chosen,
        current=rates_at(scored, current),
        saved=save,
        items=items,
    )
