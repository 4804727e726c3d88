"""Asking through a real ``AgentService``: each question is its own conversation under the ``eval`` tenant (MTRAG
tasks first get their earlier turns recorded there, so condensing and memory run as in a real thread); the run's
conversations are deleted afterwards."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from agent.conversation_purge import delete_conversations
from agent.llm import ChatModels
from agent.memory import AnswerRecord
from agent.schemas import MAX_QUESTION_CHARS, AnswerReply, AnswerRequest, ConversationKey
from agent.service import AgentService
from core.db import session_scope
from core.settings import AgentSettings, LLMSettings
from evals.answers.corpus import CorpusInfo, eval_corpus
from evals.answers.metrics import (
    strip_citations,
)
from evals.load.collections import EVAL_TENANT
from evals.load.retrieval_sets import EvalSet
from evals.toolkit.progress import Progress, no_progress
from evals.toolkit.stats import unique_in_order
from knowledge.service import KnowledgeBase

EVAL_PLATFORM = "eval"

Question = TypeVar("Question")
Item = TypeVar("Item")


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
        under_test: AgentUnderTest,
        tenant: str = EVAL_TENANT,
    ) -> None:
        self.service = AgentService(
            knowledge=knowledge,
            sessionmaker=knowledge.sessionmaker,
            llm=under_test.llm,
            settings=under_test.settings,
            models=under_test.models,
        )
        self.knowledge = knowledge
        self.collection = collection
        self.tenant = tenant
        self.run = uuid.uuid4().hex[:12]
        models_ = self.service.models
        self.info = AgentInfo(
            extractive=models_ is None,
            model=models_.primary_name if models_ is not None else None,
            min_similarity=under_test.settings.min_similarity,
            sources=under_test.settings.sources,
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
                await delete_conversations(
                    session, tenant=self.tenant, platform=EVAL_PLATFORM, channel=f"answers-{self.run}"
                )
        finally:
            await self.service.aclose()


@asynccontextmanager
async def eval_agent(
    knowledge: KnowledgeBase,
    *,
    collection: str,
    under_test: AgentUnderTest,
    tenant: str = EVAL_TENANT,
) -> AsyncIterator[EvalAgent]:
    agent = EvalAgent(knowledge, collection=collection, under_test=under_test, tenant=tenant)
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


@dataclass(frozen=True, slots=True)
class AgentUnderTest:
    """The agent a run measures: its LLM settings (no model: extractive answers), its agent settings, and chat
    models given directly (a stand-in) in place of those the LLM settings would make."""

    llm: LLMSettings
    settings: AgentSettings
    models: ChatModels | None = None

    @property
    def mode(self) -> str:
        """``llm`` or ``extractive``: evidence is scored differently in each, so each has its own threshold."""
        return "llm" if self.models is not None or self.llm.model else "extractive"

    def with_threshold(self, min_similarity: float | None) -> AgentUnderTest:
        if min_similarity is None:
            return self
        return replace(self, settings=self.settings.model_copy(update={"min_similarity": min_similarity}))


def answer_text(asked: Asked) -> str:
    """The reply as an answer to score: no citation markers."""
    return strip_citations(asked.text)


# --- SQuAD ------------------------------------------------------------------------------------------------------


@asynccontextmanager
async def agent_on_corpus(
    knowledge: KnowledgeBase,
    corpus: EvalSet,
    *,
    under_test: AgentUnderTest,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> AsyncIterator[tuple[CorpusInfo, EvalAgent]]:
    """The corpus loaded into a throwaway collection and an agent answering from it; both gone on exit."""
    async with (
        eval_corpus(knowledge, corpus, cache_dir=cache_dir, progress=progress) as info,
        eval_agent(knowledge, collection=info.collection, under_test=under_test) as agent,
    ):
        yield info, agent


async def ask_all(
    knowledge: KnowledgeBase,
    corpus: EvalSet,
    questions: Sequence[Question],
    ask: Callable[[EvalAgent, Question], Awaitable[Item]],
    *,
    under_test: AgentUnderTest,
    stage: str,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> tuple[CorpusInfo, AgentInfo, list[Item]]:
    """Each question asked (``ask``) of an agent answering from ``corpus``, loaded for the run and gone after."""
    items: list[Item] = []
    async with agent_on_corpus(knowledge, corpus, under_test=under_test, cache_dir=cache_dir, progress=progress) as (
        info,
        agent,
    ):
        for done, question in enumerate(questions, start=1):
            items.append(await ask(agent, question))
            progress(stage, done, len(questions))
    return info, agent.info, items
