"""SQuAD v1.1: does the reply contain the answer, and how often does the agent answer at all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evals.answers.asking import AgentInfo, AgentUnderTest, Asked, EvalAgent, answer_text, ask_all
from evals.answers.corpus import CorpusInfo
from evals.answers.metrics import (
    best_exact_match,
    best_token_f1,
    contains_answer,
)
from evals.load.answer_sets import SquadAnswerSet, SquadQuestion
from evals.toolkit.progress import Progress, no_progress
from evals.toolkit.stats import latency_percentiles, mean, rate
from knowledge.service import KnowledgeBase


@dataclass
class SquadItem:
    question: SquadQuestion
    asked: Asked


@dataclass
class SquadAnswersReport:
    dataset: str
    documents: int
    chunks: int
    load_seconds: float
    questions: int
    agent: AgentInfo
    outcomes: dict[str, int]
    answered_rate: float
    retrieval: dict[str, float]
    """Whether the gold paragraph is among the retrieved passages: recall@1 and recall@k (k = AGENT_SOURCES)."""
    contains_answer_rate: float
    """Answered questions whose reply contains a gold answer (normalised): in extractive mode, the extract."""
    contains_answer_rate_all: float
    """The same over every question (abstentions count as misses)."""
    exact_match: float | None = None
    """LLM only: SQuAD EM of the reply (citations stripped) over every question; abstentions score 0."""
    f1: float | None = None
    exact_match_answered: float | None = None
    f1_answered: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)


async def ask_squad(
    knowledge: KnowledgeBase,
    dataset: SquadAnswerSet,
    *,
    under_test: AgentUnderTest,
    limit: int | None = None,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> tuple[CorpusInfo, AgentInfo, list[SquadItem]]:
    async def ask(agent: EvalAgent, question: SquadQuestion) -> SquadItem:
        return SquadItem(question, await agent.ask(question.question, thread=question.id))

    questions = dataset.questions[:limit] if limit else dataset.questions
    return await ask_all(
        knowledge,
        dataset.corpus,
        questions,
        ask,
        under_test=under_test,
        stage="asking SQuAD questions",
        cache_dir=cache_dir,
        progress=progress,
    )


def summarize_squad(corpus: CorpusInfo, agent: AgentInfo, items: Sequence[SquadItem]) -> SquadAnswersReport:
    total = len(items)
    answered = [i for i in items if i.asked.outcome == "answered"]
    contained = [contains_answer(answer_text(i.asked), i.question.answers) for i in answered]
    report = SquadAnswersReport(
        dataset=corpus.dataset,
        documents=corpus.documents,
        chunks=corpus.chunks,
        load_seconds=corpus.load_seconds,
        questions=total,
        agent=agent,
        outcomes={o: sum(i.asked.outcome == o for i in items) for o in ("answered", "abstained", "error")},
        answered_rate=rate(len(answered), total),
        retrieval={
            "recall@1": rate(sum(i.asked.retrieved[:1] == [i.question.gold_uri] for i in items), total),
            f"recall@{agent.sources}": rate(sum(i.question.gold_uri in i.asked.retrieved for i in items), total),
        },
        contains_answer_rate=rate(sum(contained), len(answered)),
        contains_answer_rate_all=rate(sum(contained), total),
        latency_ms=latency_percentiles([i.asked.latency_ms for i in items]),
    )
    if not agent.extractive:
        em = {id(i): best_exact_match(answer_text(i.asked), i.question.answers) for i in answered}
        f1 = {id(i): best_token_f1(answer_text(i.asked), i.question.answers) for i in answered}
        report.exact_match = mean([em.get(id(i), 0.0) for i in items])
        report.f1 = mean([f1.get(id(i), 0.0) for i in items])
        report.exact_match_answered = mean(list(em.values()))
        report.f1_answered = mean(list(f1.values()))
    return report


async def evaluate_squad_answers(
    knowledge: KnowledgeBase,
    dataset: SquadAnswerSet,
    *,
    under_test: AgentUnderTest,
    min_similarity: float | None = None,
    limit: int | None = 500,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> SquadAnswersReport:
    corpus, agent, items = await ask_squad(
        knowledge,
        dataset,
        under_test=under_test.with_threshold(min_similarity),
        limit=limit,
        cache_dir=cache_dir,
        progress=progress,
    )
    return summarize_squad(corpus, agent, items)


# --- MTRAG ------------------------------------------------------------------------------------------------------
