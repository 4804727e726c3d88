"""The graph's typed state and its run context (the dependencies every node may use)."""

from __future__ import annotations

from dataclasses import dataclass
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
    query_embedding: QueryEmbedding
    """The question's embedding, already under way when the graph starts."""


class AgentState(TypedDict, total=False):
    request: AnswerRequest
    started: float
    query_embedding: QueryEmbedding
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
