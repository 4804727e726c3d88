"""``bench agent``: what the agent itself adds to an answer, measured with an instant in-process chat model.

Questions run through a real ``AgentService`` (memory load, condense, retrieve, answer, save) over the
``bench/synthetic-N`` collection of the retrieval benchmark. The chat model answers instantly, so what is
timed is Threadwise's own overhead: the local query embedding, the hybrid search, the graph, and the
conversation reads and writes. Half the questions are follow-ups in a conversation with earlier turns.

The synthetic collection's vectors are not MiniLM vectors: the questions are embedded for real (that time is
part of the overhead and reported on its own), but which chunks they find is meaningless — only the cost is.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.conversation_purge import delete_conversations
from agent.llm import ChatModels
from agent.memory import AnswerRecord
from agent.schemas import AnswerRequest, ConversationKey
from agent.service import AgentService
from core.db import session_scope
from core.settings import AgentSettings, LLMSettings
from evals.speed.retrieval import (
    BENCH_TENANT,
    SyntheticLoad,
    drop_synthetic_collection,
    load_synthetic_collection,
    open_synthetic_collection,
)
from evals.speed.synthetic import SyntheticCorpus
from evals.toolkit.database import engine_of
from evals.toolkit.progress import Progress, no_progress
from evals.toolkit.stand_in_llm import STAND_IN_ANSWER, StandInChatModel
from evals.toolkit.stats import latency_percentiles
from knowledge.embeddings.base import Embedder
from knowledge.errors import KnowledgeError
from knowledge.search import SearchHit
from knowledge.service import KnowledgeBase
from knowledge.vector_index import vacuum_search_tables

BENCH_PLATFORM = "bench"
WARMUP_QUESTIONS = 20
EARLIER_EXCHANGES = 3
"""Exchanges already in a follow-up's conversation (recorded untimed before it is asked)."""
TARGET_P95_MS = 40.0
SCRIPTED_MODEL = "scripted:instant"


def scripted_models() -> ChatModels:
    return ChatModels(primary_name=SCRIPTED_MODEL, primary=StandInChatModel())


class TimedEmbedder(Embedder):
    """The configured embedder under the synthetic collection's model name, timing every call."""

    def __init__(self, inner: Embedder, *, name: str) -> None:
        self.inner = inner
        self.name = name
        self.dims = inner.dims
        self.max_tokens = inner.max_tokens
        self.spent_ms = 0.0

    def embed_array(self, texts: list[str]) -> npt.NDArray[np.float32]:
        tick = time.perf_counter()
        try:
            return self.inner.embed_array(texts)
        finally:
            self.spent_ms += (time.perf_counter() - tick) * 1000

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


class TimedKnowledgeBase(KnowledgeBase):
    """Times each search as the agent calls it (the question is already embedded by then)."""

    spent_ms = 0.0

    async def search(self, query: str, **options: Any) -> list[SearchHit]:
        tick = time.perf_counter()
        try:
            return await super().search(query, **options)
        finally:
            self.spent_ms += (time.perf_counter() - tick) * 1000


@dataclass
class AgentBenchmark:
    chunks: int
    questions: int
    warmup: int
    follow_ups: int
    """Timed questions asked in a conversation that already had EARLIER_EXCHANGES exchanges."""
    load: SyntheticLoad
    model: str
    embedder: str
    latency_ms: dict[str, float] = field(default_factory=dict)
    """Whole answers, as ``AgentService.answer`` takes them."""
    query_embedding_ms: dict[str, float] = field(default_factory=dict)
    """The question's embedding, in a thread while the conversation's memory loads (so not simply additive)."""
    search_ms: dict[str, float] = field(default_factory=dict)
    """The retrieve step's search, on the question's embedding made before it."""
    new_conversation_ms: dict[str, float] = field(default_factory=dict)
    follow_up_ms: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    target_p95_ms: float = TARGET_P95_MS
    target_met: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def bench_agent(
    knowledge: KnowledgeBase,
    *,
    chunks: int = 100_000,
    questions: int = 200,
    warmup: int = WARMUP_QUESTIONS,
    keep: bool = False,
    index_memory_mb: int = 2048,
    progress: Progress = no_progress,
) -> AgentBenchmark:
    """Reuse (or build) ``bench/synthetic-N`` and time ``warmup + questions`` answers, half of them follow-ups.

    A collection built here is dropped afterwards unless ``keep``; a kept one found here is left alone.
    """
    corpus = SyntheticCorpus(chunks=chunks)
    if knowledge.embedder.dims != corpus.dims:
        raise KnowledgeError(
            f"the synthetic collection has {corpus.dims}-dimension vectors and the embedder "
            f"{knowledge.embedder.name} makes {knowledge.embedder.dims}; bench the agent with the local embedder"
        )
    sessionmaker = knowledge.sessionmaker
    collection, reused = await open_synthetic_collection(sessionmaker, corpus)
    run = uuid.uuid4().hex[:12]
    try:
        load = SyntheticLoad(reused=True)
        if not reused:
            load = await load_synthetic_collection(
                sessionmaker, collection, corpus, index_memory_mb=index_memory_mb, progress=progress
            )
            await vacuum_search_tables(engine_of(sessionmaker))
        embedder = TimedEmbedder(knowledge.embedder, name=collection.embedding_model)
        kb = TimedKnowledgeBase(sessionmaker=sessionmaker, embedder=embedder, settings=knowledge.settings)
        agent = AgentService(
            knowledge=kb,
            sessionmaker=sessionmaker,
            llm=LLMSettings(),
            settings=AgentSettings(min_similarity=-1.0, collections=[collection.name]),
            models=scripted_models(),
        )
        result = AgentBenchmark(
            chunks=chunks,
            questions=questions,
            warmup=warmup,
            follow_ups=0,
            load=load,
            model=SCRIPTED_MODEL,
            embedder=knowledge.embedder.name,
        )
        await _run(agent, kb, embedder, corpus, result, run=run, collection=collection.name, progress=progress)
        return result
    finally:
        async with session_scope(sessionmaker) as session:
            await delete_conversations(session, tenant=BENCH_TENANT, platform=BENCH_PLATFORM, channel=f"agent-{run}")
        if not reused and not keep:
            await drop_synthetic_collection(sessionmaker, collection)


async def _run(
    agent: AgentService,
    kb: TimedKnowledgeBase,
    embedder: TimedEmbedder,
    corpus: SyntheticCorpus,
    result: AgentBenchmark,
    *,
    run: str,
    collection: str,
    progress: Progress,
) -> None:
    workload = [text for text, _ in corpus.queries(result.warmup + result.questions)]
    totals: list[float] = []
    embeddings: list[float] = []
    searches: list[float] = []
    by_kind: dict[bool, list[float]] = {False: [], True: []}
    outcomes: dict[str, int] = {}
    for index, question in enumerate(workload):
        follow_up = index % 2 == 1
        key = ConversationKey(tenant=BENCH_TENANT, platform=BENCH_PLATFORM, channel=f"agent-{run}", thread=f"q{index}")
        if follow_up:
            await _seed(agent, key, workload, index)
        embedder.spent_ms, kb.spent_ms = 0.0, 0.0
        tick = time.perf_counter()
        reply = await agent.answer(AnswerRequest(question=question, conversation=key, collections=[collection]))
        took = (time.perf_counter() - tick) * 1000
        progress("answering", index + 1, len(workload))
        if index < result.warmup:
            continue
        totals.append(took)
        embeddings.append(embedder.spent_ms)
        searches.append(kb.spent_ms)
        by_kind[follow_up].append(took)
        outcomes[reply.outcome] = outcomes.get(reply.outcome, 0) + 1
    result.follow_ups = len(by_kind[True])
    result.latency_ms = latency_percentiles(totals, digits=2)
    result.query_embedding_ms = latency_percentiles(embeddings, digits=2)
    result.search_ms = latency_percentiles(searches, digits=2)
    result.new_conversation_ms = latency_percentiles(by_kind[False], digits=2)
    result.follow_up_ms = latency_percentiles(by_kind[True], digits=2)
    result.outcomes = outcomes
    # Only answers count: an error path is fast and would flatter the figures.
    result.target_met = result.latency_ms["p95"] <= TARGET_P95_MS and outcomes == {"answered": result.questions}


async def _seed(agent: AgentService, key: ConversationKey, workload: list[str], index: int) -> None:
    """Earlier exchanges for a follow-up's conversation: recorded directly, untimed."""
    conversation_id = await agent.store.open(key)
    for back in range(EARLIER_EXCHANGES, 0, -1):
        earlier = workload[(index - back) % len(workload)]
        await agent.store.record(
            conversation_id,
            AnswerRecord(
                question=earlier, standalone_question=earlier, answer=f"{STAND_IN_ANSWER} {earlier}", outcome="answered"
            ),
        )
