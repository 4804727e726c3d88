"""The graph's typed state (plain data only) and its run context (the dependencies every node may use, and what
belongs to one answer but is no data: the question's embedding under way)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, NamedTuple, TypedDict

from agent.llm import ChatModels
from agent.memory import ConversationStore, Memory
from agent.models import Outcome
from agent.prefetch import QueryEmbedding
from agent.schemas import AnswerRequest, Source, Usage
from agent.text_vectors import TextVectors
from core.settings import AgentSettings
from knowledge.search import SearchHit
from knowledge.service import KnowledgeBase


def add_usage(current: Usage | None, new: Usage | None) -> Usage:
    """Token counts add up over every LLM call of one answer (condense, answer, fallback)."""
    current, new = current or Usage(), new or Usage()
    return Usage(
        prompt_tokens=current.prompt_tokens + new.prompt_tokens,
        completion_tokens=current.completion_tokens + new.completion_tokens,
    )


class AnswerText(NamedTuple):
    """A piece of the answer as the model writes it: what the answer nodes put on the graph's ``custom`` stream."""

    text: str


class AgentInput(TypedDict):
    request: AnswerRequest
    started: float
    """``time.perf_counter()`` when the question arrived, for the stored latency."""


class AgentState(TypedDict, total=False):
    request: AnswerRequest
    started: float
    conversation_id: int
    memory: Memory
    question: str
    """The standalone question (the follow-up condensed with the conversation)."""
    hits: list[SearchHit]
    evidence: float | None
    """What ``decide`` compares with the threshold (``agent.evidence``, less ``agent.coverage``'s penalty); None
    when nothing was found."""
    threshold: float
    """What ``evidence`` must reach: ``AGENT_MIN_SIMILARITY``, or the best passage's collection's calibrated one."""
    missing: list[str]
    """Names in the question that the searched collections never mention (``agent.coverage``)."""
    text: str
    sources: list[Source]
    outcome: Outcome
    extractive: bool
    model: str | None
    usage: Annotated[Usage, add_usage]
    error: str | None
    """What failed (for logs), when the outcome is an error."""
    reference_id: str | None
    message_id: int


@dataclass(frozen=True)
class AgentContext:
    knowledge: KnowledgeBase
    store: ConversationStore
    models: ChatModels | None
    settings: AgentSettings
    verified_questions: TextVectors
    """The verified answers' questions, embedded once each (``agent.verified.prefer_verified``)."""

    def for_answer(self, query_embedding: QueryEmbedding) -> AnswerContext:
        """The context of one run of the graph: these dependencies and that answer's question embedding."""
        shared = {field.name: getattr(self, field.name) for field in fields(AgentContext)}
        return AnswerContext(**shared, query_embedding=query_embedding)


@dataclass(frozen=True)
class AnswerContext(AgentContext):
    """One answer's run context (the graph's ``context_schema``). The question's embedding is a task under way, not
    data, so it lives here rather than in the state, which holds only plain values."""

    query_embedding: QueryEmbedding
    """The question's embedding, started when the answer began (``agent.prefetch``)."""
