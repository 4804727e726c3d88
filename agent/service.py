"""``AgentService``: the one entry point every platform (and the CLI and HTTP API) uses to get an answer."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent import prompts
from agent.detached import DetachedRuns, holding
from agent.graph import build_graph
from agent.llm import ChatModels, create_chat_models
from agent.memory import ConversationStore
from agent.most_asked import most_asked
from agent.prefetch import QueryEmbedding
from agent.schemas import (
    AnswerReply,
    AnswerRequest,
    ConversationKey,
    Retrieved,
    StreamDelta,
    StreamEvent,
    StreamFinal,
    Usage,
)
from agent.state import AgentContext, AgentInput, AgentState, AnswerContext, AnswerText
from agent.text_vectors import TextVectors
from core.db import session_scope
from core.langfuse import LangfuseTracing
from core.logging import get_logger
from core.metrics import ANSWER_SECONDS, LLM_TOKENS, QUESTIONS, count_error
from core.sentry import report_failure
from core.settings import AgentSettings, LLMSettings
from knowledge.service import KnowledgeBase

log = get_logger(__name__)


class AgentService:
    def __init__(
        self,
        *,
        knowledge: KnowledgeBase,
        sessionmaker: async_sessionmaker[AsyncSession],
        llm: LLMSettings,
        settings: AgentSettings,
        models: ChatModels | None = None,
        tracing: LangfuseTracing | None = None,
    ) -> None:
        self.store = ConversationStore(sessionmaker)
        self.tracing = tracing if tracing is not None else LangfuseTracing()
        self._owns_models = models is None  # models handed in are closed by whoever made them
        self.models = models if models is not None else create_chat_models(llm)
        self.graph = build_graph(llm)
        self.context = AgentContext(
            knowledge=knowledge,
            store=self.store,
            models=self.models,
            settings=settings,
            verified_questions=TextVectors(knowledge.embedder),
        )
        self.detached = DetachedRuns()
        """The answers of ``stream_detached`` (whose readers may have left)."""

    async def aclose(self) -> None:
        """Let the answers whose readers left finish (for a while), then close the chat models' HTTP clients, when
        this service made the models."""
        await self.detached.aclose()
        if self._owns_models and self.models is not None:
            await self.models.aclose()

    @property
    def extractive(self) -> bool:
        return self.models is None

    async def answer(self, request: AnswerRequest) -> AnswerReply:
        """Answer one question in its conversation; never raises for a failed answer (outcome ``error``)."""
        reply: AnswerReply | None = None
        async for event in self.stream(request):
            if isinstance(event, StreamFinal):
                reply = event.reply
        if reply is None:  # stream() always ends with the final reply
            raise RuntimeError("the agent's stream ended without a reply")
        return reply

    def embed_question(self, request: AnswerRequest) -> QueryEmbedding:
        """Start embedding ``request``'s question now, off the event loop. A caller with work to do before the
        answer begins (the worker's bookkeeping, the 👀 on Slack) passes the result to ``stream``, so that the
        embedding overlaps that work instead of following it."""
        return QueryEmbedding(self.context.knowledge, request.question)

    def graph_input(self, request: AnswerRequest, started: float) -> AgentInput:
        """What the graph starts from for ``request`` (``started``: its ``time.perf_counter()``): plain data."""
        return {"request": request, "started": started}

    def run_context(self, request: AnswerRequest, query_embedding: QueryEmbedding | None = None) -> AnswerContext:
        """The context of one run of the graph for ``request``; the question's embedding gets under way at once
        unless ``query_embedding`` already has."""
        return self.context.for_answer(query_embedding if query_embedding is not None else self.embed_question(request))

    async def stream(
        self, request: AnswerRequest, *, query_embedding: QueryEmbedding | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Partial text as the model writes it, then the final reply (with cleaned citations and sources).

        ``query_embedding``: from ``embed_question(request)``, when the caller started it earlier."""
        started = time.perf_counter()
        trace_id = request.trace_id or uuid.uuid4().hex
        request = request.model_copy(update={"trace_id": trace_id})
        state: dict[str, Any] = {}
        held = ""  # text not yet sent: it could still turn out to be the "no answer" marker
        sent = False
        inputs = self.graph_input(request, started)
        context = self.run_context(request, query_embedding)
        # With Langfuse on, this run is one trace (its id follows from ours) in the conversation's session.
        # Either way every step, the LLM calls included, carries our trace id in its run metadata.
        config: RunnableConfig = (
            self.tracing.run_config(
                trace_id=trace_id, session_id=session_id(request.conversation), user_id=request.user_id
            )
            or {}
        )
        config["metadata"] = {**config.get("metadata", {}), "trace_id": trace_id}
        try:
            async for mode, payload in self.graph.astream(
                inputs,
                config=config,
                context=context,
                stream_mode=["custom", "values"],
            ):
                if mode == "values":
                    state = cast(dict[str, Any], payload)
                    continue
                if not isinstance(payload, AnswerText):
                    continue
                held += payload.text
                if sent or not prompts.NO_ANSWER_MARKER.startswith(held.strip()[: len(prompts.NO_ANSWER_MARKER)]):
                    sent = True
                    yield StreamDelta(text=held)
                    held = ""
        except Exception as error:  # the graph handles step failures; this is the last net
            reference = report_failure(error)
            count_error("agent")
            log.exception("agent run failed", reference_id=reference, trace_id=trace_id)
            state = {
                "text": prompts.ERROR_TEXT.format(reference=reference),
                "outcome": "error",
                "reference_id": reference,
                "error": f"graph: {type(error).__name__}",
            }
        reply = self._reply(state, trace_id=trace_id, started=started)
        _observe(request, reply)
        yield StreamFinal(reply=reply)

    def stream_detached(
        self,
        request: AnswerRequest,
        *,
        query_embedding: QueryEmbedding | None = None,
        hold: AbstractAsyncContextManager[object] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """``stream``, answered in a task of this service: a reader that stops reading (an HTTP client that
        disconnected) does not stop the answer, which is stored in its conversation as always. ``hold`` is entered
        by that task for as long as the answer runs (the caller's answer slot)."""
        source = self.stream(request, query_embedding=query_embedding)
        return self.detached.stream(holding(hold, source) if hold is not None else source)

    def _reply(self, state: AgentState | dict[str, Any], *, trace_id: str, started: float) -> AnswerReply:
        return AnswerReply(
            text=state.get("text") or prompts.ERROR_TEXT.format(reference=trace_id[:12]),
            outcome=state.get("outcome", "error"),
            sources=state.get("sources", []),
            retrieved=[
                Retrieved(chunk_id=h.chunk_id, source_uri=h.source_uri, similarity=h.similarity)
                for h in state.get("hits", [])
            ],
            evidence=state.get("evidence"),
            extractive=state.get("extractive", False),
            standalone_question=state.get("question"),
            conversation_id=state.get("conversation_id"),
            message_id=state.get("message_id"),
            trace_id=trace_id,
            reference_id=state.get("reference_id"),
            model=state.get("model"),
            latency_ms=round((time.perf_counter() - started) * 1000),
            usage=state.get("usage") or Usage(),
        )

    async def forget(self, conversation: ConversationKey) -> bool:
        """Clear the conversation's memory (its messages stay for feedback and reports). False if unknown."""
        async with session_scope(self.store.sessionmaker) as session:
            return await self.store.forget(session, conversation)

    async def most_asked(self, *, tenant: str, platform: str, channel: str | None, limit: int) -> list[str]:
        """The questions asked most in ``channel`` (None: anywhere on the platform) that were answered well."""
        return await most_asked(self.store.sessionmaker, tenant=tenant, platform=platform, channel=channel, limit=limit)

    async def forget_channel(self, *, tenant: str, platform: str, channel: str) -> int:
        """Clear the memory of every conversation of a channel (its own and its threads'); returns how many."""
        async with session_scope(self.store.sessionmaker) as session:
            return await self.store.forget_channel(session, tenant=tenant, platform=platform, channel=channel)


def session_id(conversation: ConversationKey) -> str:
    """The conversation as one stable string (Langfuse's session id): ``tenant/platform/channel[/thread]``."""
    parts = [conversation.tenant, conversation.platform, conversation.channel, conversation.thread]
    return "/".join(part for part in parts if part)


def _observe(request: AnswerRequest, reply: AnswerReply) -> None:
    """The answer's figures for ``/metrics``."""
    platform = request.conversation.platform
    QUESTIONS.labels(platform=platform, outcome=reply.outcome).inc()
    ANSWER_SECONDS.labels(platform=platform).observe(reply.latency_ms / 1000)
    LLM_TOKENS.labels(kind="prompt").inc(reply.usage.prompt_tokens)
    LLM_TOKENS.labels(kind="completion").inc(reply.usage.completion_tokens)
