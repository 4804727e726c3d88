"""Answer evaluations: load a data set into a throwaway collection, ask its questions through a real
``AgentService``, and score the replies.

Each question is its own conversation under the ``eval`` tenant; MTRAG tasks first get their earlier turns
recorded in that conversation, so condensing and memory run as they would in a real thread. The collection
and the run's conversations are deleted afterwards, whatever happens.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy import delete, select

from agent.llm import ChatModels
from agent.memory import AnswerRecord
from agent.models import Conversation
from agent.schemas import MAX_QUESTION_CHARS, AnswerReply, AnswerRequest, ConversationKey
from agent.service import AgentService
from core.db import session_scope
from core.settings import AgentSettings, LLMSettings
from evals.answers.metrics import (
    Scored,
    ThresholdRates,
    answered_share,
    best_exact_match,
    best_token_f1,
    choose_threshold,
    contains_answer,
    rates_at,
    strip_citations,
)
from evals.load.answer_sets import ANSWERABILITY_CLASSES, MtragSet, MtragTask, SquadAnswerSet, SquadQuestion
from evals.load.collections import EVAL_TENANT, EmbeddingCache, load_collection
from evals.load.retrieval_sets import EvalSet
from evals.toolkit.progress import Progress, no_progress
from evals.toolkit.stats import latency_percentiles, mean, percentile, rate, unique_in_order
from knowledge.collections import delete_collection
from knowledge.models import Collection
from knowledge.service import KnowledgeBase

EVAL_PLATFORM = "eval"
TARGET_RATE = 0.8
"""The issue's targets: abstain on ≥ 80 % of unanswerable questions and answer ≥ 80 % of answerable ones."""
SWEEP = [round(0.05 * i, 2) for i in range(15)]
"""Thresholds shown next to the chosen one (0.00–0.70)."""

# --- the throwaway corpus -------------------------------------------------------------------------------------


@dataclass
class CorpusInfo:
    dataset: str
    collection: str
    documents: int
    chunks: int
    load_seconds: float


@asynccontextmanager
async def eval_corpus(
    knowledge: KnowledgeBase,
    corpus: EvalSet,
    *,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> AsyncIterator[CorpusInfo]:
    """The corpus in a new collection of the ``eval`` tenant, deleted on exit (also when loading fails)."""
    run = uuid.uuid4().hex[:8]
    # The run id in the name lets a failed load's half-written collection be found and removed.
    named = EvalSet(name=f"{corpus.name}:answers-{run}", documents=corpus.documents, queries=[])
    cache = EmbeddingCache(cache_dir, knowledge.embedder.name)
    started = time.perf_counter()
    try:
        collection, chunks = await load_collection(
            knowledge.sessionmaker, knowledge.embedder, knowledge.settings, named, cache=cache, progress=progress
        )
        yield CorpusInfo(
            dataset=corpus.name,
            collection=collection.name,
            documents=len(corpus.documents),
            chunks=chunks,
            load_seconds=round(time.perf_counter() - started, 2),
        )
    finally:
        await _delete_collections(knowledge, prefix=f"{named.name}-")


async def _delete_collections(knowledge: KnowledgeBase, *, prefix: str) -> None:
    async with session_scope(knowledge.sessionmaker) as session:
        names = await session.scalars(
            select(Collection.name).where(Collection.tenant == EVAL_TENANT, Collection.name.startswith(prefix))
        )
        for name in list(names):
            await delete_collection(session, tenant=EVAL_TENANT, name=name)


# --- asking -----------------------------------------------------------------------------------------------------


@dataclass
class Asked:
    """What the agent did with one question."""

    outcome: str
    text: str
    extractive: bool
    evidence: float | None
    """What the agent's threshold compares (``agent.evidence``): the best passage's similarity, mixed with the
    quote's in extractive mode."""
    retrieved: list[str]
    """Source URIs of the retrieved passages, each at the rank of its best chunk."""
    latency_ms: float
    standalone_question: str | None = None
    """What the agent searched for (a follow-up condensed with the conversation)."""
    cited: list[str] = field(default_factory=list)
    """Source URIs of the sources the reply shows (when abstaining, the closest passages)."""


@dataclass
class AgentInfo:
    extractive: bool
    model: str | None
    min_similarity: float
    sources: int


class EvalAgent:
    """An ``AgentService`` restricted to one collection (an eval one, unless ``tenant`` says whose), asking each
    question in a conversation of its own."""

    def __init__(
        self,
        knowledge: KnowledgeBase,
        *,
        collection: str,
        llm: LLMSettings,
        settings: AgentSettings,
        models: ChatModels | None = None,
        tenant: str = EVAL_TENANT,
    ) -> None:
        self.service = AgentService(
            knowledge=knowledge, sessionmaker=knowledge.sessionmaker, llm=llm, settings=settings, models=models
        )
        self.knowledge = knowledge
        self.collection = collection
        self.tenant = tenant
        self.run = uuid.uuid4().hex[:12]
        models_ = self.service.models
        self.info = AgentInfo(
            extractive=models_ is None,
            model=models_.primary_name if models_ is not None else None,
            min_similarity=settings.min_similarity,
            sources=settings.sources,
        )

    def key(self, thread: str) -> ConversationKey:
        return ConversationKey(tenant=self.tenant, platform=EVAL_PLATFORM, channel=f"answers-{self.run}", thread=thread)

    async def ask(self, question: str, *, thread: str, history: Sequence[tuple[str, str]] = ()) -> Asked:
        """Record ``history`` (question, reply pairs) in the thread's conversation, then ask ``question``."""
        key = self.key(thread[:200])
        if history:
            conversation_id = await self.service.store.open(key)
            for earlier, said in history:
                await self.service.store.record(
                    conversation_id,
                    AnswerRecord(question=earlier, standalone_question=earlier, answer=said, outcome="answered"),
                )
        request = AnswerRequest(question=question[:MAX_QUESTION_CHARS], conversation=key, collections=[self.collection])
        tick = time.perf_counter()
        reply = await self.service.answer(request)
        return _asked(reply, (time.perf_counter() - tick) * 1000)

    async def close(self) -> None:
        """Delete this run's conversations (their messages go with them) and close the models' HTTP clients."""
        try:
            async with session_scope(self.knowledge.sessionmaker) as session:
                await session.execute(
                    delete(Conversation).where(
                        Conversation.tenant == self.tenant,
                        Conversation.platform == EVAL_PLATFORM,
                        Conversation.channel == f"answers-{self.run}",
                    )
                )
        finally:
            await self.service.aclose()


@asynccontextmanager
async def eval_agent(
    knowledge: KnowledgeBase,
    *,
    collection: str,
    llm: LLMSettings,
    settings: AgentSettings,
    models: ChatModels | None = None,
    tenant: str = EVAL_TENANT,
) -> AsyncIterator[EvalAgent]:
    agent = EvalAgent(knowledge, collection=collection, llm=llm, settings=settings, models=models, tenant=tenant)
    try:
        yield agent
    finally:
        await agent.close()


def _asked(reply: AnswerReply, latency_ms: float) -> Asked:
    return Asked(
        outcome=reply.outcome,
        text=reply.text,
        extractive=reply.extractive,
        evidence=reply.evidence,
        retrieved=unique_in_order([r.source_uri for r in reply.retrieved]),
        latency_ms=latency_ms,
        standalone_question=reply.standalone_question,
        cited=[source.source_uri for source in reply.sources],
    )


def _with_threshold(settings: AgentSettings, min_similarity: float | None) -> AgentSettings:
    return settings if min_similarity is None else settings.model_copy(update={"min_similarity": min_similarity})


def _answer_text(asked: Asked) -> str:
    """The reply as an answer to score: no citation markers."""
    return strip_citations(asked.text)


# --- SQuAD ------------------------------------------------------------------------------------------------------


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
    llm: LLMSettings,
    settings: AgentSettings,
    models: ChatModels | None = None,
    limit: int | None = None,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> tuple[CorpusInfo, AgentInfo, list[SquadItem]]:
    questions = dataset.questions[:limit] if limit else dataset.questions
    items: list[SquadItem] = []
    async with (
        eval_corpus(knowledge, dataset.corpus, cache_dir=cache_dir, progress=progress) as corpus,
        eval_agent(knowledge, collection=corpus.collection, llm=llm, settings=settings, models=models) as agent,
    ):
        for done, question in enumerate(questions, start=1):
            items.append(SquadItem(question, await agent.ask(question.question, thread=question.id)))
            progress("asking SQuAD questions", done, len(questions))
    return corpus, agent.info, items


def summarize_squad(corpus: CorpusInfo, agent: AgentInfo, items: Sequence[SquadItem]) -> SquadAnswersReport:
    total = len(items)
    answered = [i for i in items if i.asked.outcome == "answered"]
    contained = [contains_answer(_answer_text(i.asked), i.question.answers) for i in answered]
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
        em = {id(i): best_exact_match(_answer_text(i.asked), i.question.answers) for i in answered}
        f1 = {id(i): best_token_f1(_answer_text(i.asked), i.question.answers) for i in answered}
        report.exact_match = mean([em.get(id(i), 0.0) for i in items])
        report.f1 = mean([f1.get(id(i), 0.0) for i in items])
        report.exact_match_answered = mean(list(em.values()))
        report.f1_answered = mean(list(f1.values()))
    return report


async def evaluate_squad_answers(
    knowledge: KnowledgeBase,
    dataset: SquadAnswerSet,
    *,
    llm: LLMSettings,
    settings: AgentSettings,
    models: ChatModels | None = None,
    min_similarity: float | None = None,
    limit: int | None = 500,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> SquadAnswersReport:
    corpus, agent, items = await ask_squad(
        knowledge,
        dataset,
        llm=llm,
        settings=_with_threshold(settings, min_similarity),
        models=models,
        limit=limit,
        cache_dir=cache_dir,
        progress=progress,
    )
    return summarize_squad(corpus, agent, items)


# --- MTRAG ------------------------------------------------------------------------------------------------------


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
    llm: LLMSettings,
    settings: AgentSettings,
    models: ChatModels | None = None,
    limit: int | None = None,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> tuple[CorpusInfo, AgentInfo, list[MtragItem]]:
    tasks = dataset.tasks[:limit] if limit else dataset.tasks
    items: list[MtragItem] = []
    async with (
        eval_corpus(knowledge, dataset.corpus, cache_dir=cache_dir, progress=progress) as corpus,
        eval_agent(knowledge, collection=corpus.collection, llm=llm, settings=settings, models=models) as agent,
    ):
        for done, task in enumerate(tasks, start=1):
            asked = await agent.ask(task.question, thread=task.task_id, history=task.history)
            items.append(MtragItem(task, asked))
            progress("asking MTRAG tasks", done, len(tasks))
    return corpus, agent.info, items


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
                best_token_f1(_answer_text(i.asked), i.task.targets)
                for i in items
                if i.task.answerability == "ANSWERABLE" and i.asked.outcome == "answered"
            ]
        )
    return report


async def evaluate_mtrag_answers(
    knowledge: KnowledgeBase,
    dataset: MtragSet,
    *,
    llm: LLMSettings,
    settings: AgentSettings,
    models: ChatModels | None = None,
    min_similarity: float | None = None,
    limit: int | None = None,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> MtragAnswersReport:
    corpus, agent, items = await ask_mtrag(
        knowledge,
        dataset,
        llm=llm,
        settings=_with_threshold(settings, min_similarity),
        models=models,
        limit=limit,
        cache_dir=cache_dir,
        progress=progress,
    )
    return summarize_mtrag(corpus, agent, items)


# --- tuning the abstention threshold ---------------------------------------------------------------------------

Half = Literal["tune", "report"]


def half_of(conversation_id: str) -> Half:
    """A deterministic half-and-half split by conversation, so no conversation is in both halves."""
    return "tune" if hashlib.sha256(conversation_id.encode()).digest()[0] % 2 == 0 else "report"


@dataclass
class SweepRow:
    threshold: float
    tune_balanced_accuracy: float
    report_answer_rate: float
    report_abstention_rate: float
    report_balanced_accuracy: float
    squad_answered_rate: float | None


@dataclass
class ThresholdReport:
    dataset: str
    tasks: int
    split: dict[str, dict[str, int]]
    """Per half: how many ANSWERABLE and UNANSWERABLE tasks it holds."""
    threshold: float
    """The threshold with the best balanced accuracy on the tuning half: the suggested AGENT_MIN_SIMILARITY."""
    tune: ThresholdRates
    report: ThresholdRates
    """The figures to quote: the report half at the chosen threshold."""
    report_other_classes: dict[str, float]
    """Answered share of the report half's PARTIAL and UNDERSPECIFIED tasks at the chosen threshold."""
    current: ThresholdRates
    """The report half at the configured AGENT_MIN_SIMILARITY, for comparison."""
    squad_questions: int = 0
    squad_answered_rate: float | None = None
    """SQuAD questions (all answerable) the bot would answer at the chosen threshold."""
    squad_answered_rate_current: float | None = None
    evidence_median: dict[str, float] = field(default_factory=dict)
    sweep: list[SweepRow] = field(default_factory=list)


def _median(scores: Sequence[float | None]) -> float:
    """Median evidence; a question with nothing retrieved counts as -1."""
    return round(percentile([-1.0 if s is None else s for s in scores], 50), 4)


def _scored(items: Sequence[MtragItem]) -> list[Scored]:
    return [
        Scored(i.asked.evidence, i.task.answerability == "ANSWERABLE")
        for i in items
        if i.task.answerability in ("ANSWERABLE", "UNANSWERABLE")
    ]


def threshold_report(
    dataset: str,
    items: Sequence[MtragItem],
    *,
    current: float,
    squad: Sequence[float | None] | None = None,
) -> ThresholdReport:
    """Choose the threshold on the tuning half; report the other half (and SQuAD) at it."""
    halves = {half: [i for i in items if half_of(i.task.conversation_id) == half] for half in ("tune", "report")}
    tune, report = _scored(halves["tune"]), _scored(halves["report"])
    chosen = choose_threshold(tune)
    threshold = chosen.threshold
    result = ThresholdReport(
        dataset=dataset,
        tasks=len(items),
        split={
            half: {
                "ANSWERABLE": sum(i.task.answerability == "ANSWERABLE" for i in members),
                "UNANSWERABLE": sum(i.task.answerability == "UNANSWERABLE" for i in members),
                "all": len(members),
            }
            for half, members in halves.items()
        },
        threshold=threshold,
        tune=chosen,
        report=rates_at(report, threshold),
        report_other_classes={
            name: answered_share(
                [i.asked.evidence for i in halves["report"] if i.task.answerability == name], threshold
            )
            for name in ("PARTIAL", "UNDERSPECIFIED")
        },
        current=rates_at(report, current),
    )
    for name in ANSWERABILITY_CLASSES:
        found = [i.asked.evidence for i in items if i.task.answerability == name]
        if found:
            result.evidence_median[name] = _median(found)
    if squad is not None:
        result.squad_questions = len(squad)
        result.squad_answered_rate = answered_share(squad, threshold)
        result.squad_answered_rate_current = answered_share(squad, current)
        if squad:
            result.evidence_median["SQuAD"] = _median(squad)
    for value in sorted({*SWEEP, threshold, current}):
        on_report = rates_at(report, value)
        result.sweep.append(
            SweepRow(
                threshold=value,
                tune_balanced_accuracy=rates_at(tune, value).balanced_accuracy,
                report_answer_rate=on_report.answer_rate,
                report_abstention_rate=on_report.abstention_rate,
                report_balanced_accuracy=on_report.balanced_accuracy,
                squad_answered_rate=answered_share(squad, value) if squad is not None else None,
            )
        )
    return result


async def tune_threshold(
    knowledge: KnowledgeBase,
    mtrag: MtragSet,
    *,
    settings: AgentSettings,
    squad: SquadAnswerSet | None = None,
    squad_limit: int | None = 1000,
    limit: int | None = None,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> ThresholdReport:
    """Every task's evidence score, found once by the agent with the threshold off (-1) and no LLM (follow-ups
    condensed extractively, quotes checked), then the threshold chosen on one half and reported on the other."""
    search_only = settings.model_copy(update={"min_similarity": -1.0})
    _, _, items = await ask_mtrag(
        knowledge, mtrag, llm=LLMSettings(), settings=search_only, limit=limit, cache_dir=cache_dir, progress=progress
    )
    squad_evidence: list[float | None] | None = None
    if squad is not None:
        _, _, squad_items = await ask_squad(
            knowledge,
            squad,
            llm=LLMSettings(),
            settings=search_only,
            limit=squad_limit,
            cache_dir=cache_dir,
            progress=progress,
        )
        squad_evidence = [i.asked.evidence for i in squad_items]
    return threshold_report(mtrag.name, items, current=settings.min_similarity, squad=squad_evidence)
