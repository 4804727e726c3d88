"""MTRAG-UN: answered and refused rates per answerability class, on multi-turn conversations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evals.answers.asking import AgentInfo, AgentUnderTest, Asked, EvalAgent, answer_text, ask_all
from evals.answers.corpus import CorpusInfo
from evals.answers.metrics import (
    TARGET_RATE,
    best_token_f1,
)
from evals.load.answer_sets import ANSWERABILITY_CLASSES, MtragSet, MtragTask
from evals.toolkit.progress import Progress, no_progress
from evals.toolkit.stats import latency_percentiles, mean, rate
from knowledge.service import KnowledgeBase


@dataclass
class MtragItem:
    task: MtragTask
    asked: Asked


@dataclass
class ClassFigures:
    count: int
    answered: int
    abstained: int
    error: int
    answered_rate: float
    abstained_rate: float


@dataclass
class MtragAnswersReport:
    dataset: str
    documents: int
    chunks: int
    load_seconds: float
    tasks: int
    agent: AgentInfo
    classes: dict[str, ClassFigures]
    answerable_answer_rate: float
    """Headline: ANSWERABLE tasks answered (target ≥ 0.8)."""
    unanswerable_abstention_rate: float
    """Headline: UNANSWERABLE tasks refused (target ≥ 0.8)."""
    balanced_accuracy: float
    targets_met: dict[str, bool]
    context_recall: float
    """ANSWERABLE and PARTIAL tasks with at least one reference passage among the retrieved ones."""
    f1_answered_answerable: float | None = None
    """LLM only: token F1 of the reply (citations stripped) against the reference answer, on answered
    ANSWERABLE tasks."""
    latency_ms: dict[str, float] = field(default_factory=dict)


async def ask_mtrag(
    knowledge: KnowledgeBase,
    dataset: MtragSet,
    *,
    under_test: AgentUnderTest,
    limit: int | None = None,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> tuple[CorpusInfo, AgentInfo, list[MtragItem]]:
    async def ask(agent: EvalAgent, task: MtragTask) -> MtragItem:
        return MtragItem(task, await agent.ask(task.question, thread=task.task_id, history=task.history))

    tasks = dataset.tasks[:limit] if limit else dataset.tasks
    return await ask_all(
        knowledge,
        dataset.corpus,
        tasks,
        ask,
        under_test=under_test,
        stage="asking MTRAG tasks",
        cache_dir=cache_dir,
        progress=progress,
    )


def _class_figures(items: Sequence[MtragItem]) -> ClassFigures:
    count = len(items)
    answered = sum(i.asked.outcome == "answered" for i in items)
    abstained = sum(i.asked.outcome == "abstained" for i in items)
    return ClassFigures(
        count=count,
        answered=answered,
        abstained=abstained,
        error=count - answered - abstained,
        answered_rate=rate(answered, count),
        abstained_rate=rate(abstained, count),
    )


def summarize_mtrag(corpus: CorpusInfo, agent: AgentInfo, items: Sequence[MtragItem]) -> MtragAnswersReport:
    present = list(ANSWERABILITY_CLASSES) + sorted({i.task.answerability for i in items} - set(ANSWERABILITY_CLASSES))
    classes = {
        name: _class_figures([i for i in items if i.task.answerability == name])
        for name in present
        if any(i.task.answerability == name for i in items)
    }
    empty = ClassFigures(0, 0, 0, 0, 0.0, 0.0)
    answer_rate = classes.get("ANSWERABLE", empty).answered_rate
    abstention_rate = classes.get("UNANSWERABLE", empty).abstained_rate
    with_contexts = [i for i in items if i.task.answerability in ("ANSWERABLE", "PARTIAL") and i.task.context_ids]
    report = MtragAnswersReport(
        dataset=corpus.dataset,
        documents=corpus.documents,
        chunks=corpus.chunks,
        load_seconds=corpus.load_seconds,
        tasks=len(items),
        agent=agent,
        classes=classes,
        answerable_answer_rate=answer_rate,
        unanswerable_abstention_rate=abstention_rate,
        balanced_accuracy=round((answer_rate + abstention_rate) / 2, 4),
        targets_met={
            "answerable_answer_rate": answer_rate >= TARGET_RATE,
            "unanswerable_abstention_rate": abstention_rate >= TARGET_RATE,
        },
        context_recall=rate(
            sum(bool(set(i.task.context_ids) & set(i.asked.retrieved)) for i in with_contexts), len(with_contexts)
        ),
        latency_ms=latency_percentiles([i.asked.latency_ms for i in items]),
    )
    if not agent.extractive:
        report.f1_answered_answerable = mean(
            [
                best_token_f1(answer_text(i.asked), i.task.targets)
                for i in items
                if i.task.answerability == "ANSWERABLE" and i.asked.outcome == "answered"
            ]
        )
    return report


async def evaluate_mtrag_answers(
    knowledge: KnowledgeBase,
    dataset: MtragSet,
    *,
    under_test: AgentUnderTest,
    min_similarity: float | None = None,
    limit: int | None = None,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> MtragAnswersReport:
    corpus, agent, items = await ask_mtrag(
        knowledge,
        dataset,
        under_test=under_test.with_threshold(min_similarity),
        limit=limit,
        cache_dir=cache_dir,
        progress=progress,
    )
    return summarize_mtrag(corpus, agent, items)


# --- tuning the abstention threshold ---------------------------------------------------------------------------
