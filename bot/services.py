"""What the web app and the CLI both build on a database engine: the knowledge base and, for whatever answers
questions, the agent with its tracing. Built here once, so that the two cannot drift apart.

The agent (and with it LangGraph and LangChain) is imported only by ``build_services``: the CLI's commands
that only need the knowledge base (``build_knowledge_base``) start without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import create_engine, create_sessionmaker
from core.langfuse import LangfuseTracing
from core.settings import Settings
from knowledge.embeddings import create_embedder
from knowledge.service import KnowledgeBase

if TYPE_CHECKING:
    from agent.service import AgentService
    from knowledge.sources.service import Sources


@dataclass(frozen=True, slots=True)
class Services:
    """The knowledge base and the agent over it, on one engine (one connection pool per process).

    The caller owns the engine (it disposes of it after ``aclose``)."""

    sessionmaker: async_sessionmaker[AsyncSession]
    knowledge: KnowledgeBase
    tracing: LangfuseTracing
    agent: AgentService
    read_engine: AsyncEngine | None = None
    """On the read replica (``DATABASE_READ_URL``), owned by the services: disposed of by ``aclose``."""
    warm_up: threading.Thread | None = None
    """Loading the embedding model (``build_services(warm_embedder=True)``); ``aclose`` waits for it."""

    async def aclose(self) -> None:
        """Let the agent's answers still under way finish (for a while) and close its chat models' clients, then
        send the traces and scores still queued."""
        try:
            await self.agent.aclose()
        finally:
            if self.warm_up is not None:  # a process ending inside onnxruntime's loading aborts
                await asyncio.to_thread(self.warm_up.join)
            await asyncio.to_thread(self.tracing.shutdown)
            if self.read_engine is not None:
                await self.read_engine.dispose()


def _knowledge_base(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    read_sessionmaker: async_sessionmaker[AsyncSession] | None = None,
) -> KnowledgeBase:
    return KnowledgeBase(
        sessionmaker=sessionmaker,
        embedder=create_embedder(settings.embedding),
        settings=settings.knowledge,
        read_sessionmaker=read_sessionmaker,
    )


def build_knowledge_base(settings: Settings, engine: AsyncEngine) -> KnowledgeBase:
    """The knowledge base alone, with the configured embedder (for what never asks the agent)."""
    return _knowledge_base(settings, create_sessionmaker(engine))


def build_services(settings: Settings, engine: AsyncEngine, *, warm_embedder: bool = False) -> Services:
    """The knowledge base, Langfuse tracing (a no-op when unset) and the agent with the configured LLM (extractive
    answers when there is none); ``Services.aclose`` closes them.

    ``warm_embedder`` loads the embedding model on a thread while the agent's modules are imported: a command that
    asks one question, or a server its first, then finds it ready (onnxruntime loads without holding the GIL)."""
    sessionmaker = create_sessionmaker(engine)
    # Answers search the replica when there is one; the CLI's own commands (build_knowledge_base) read the primary.
    read_url = settings.database.async_read_url()
    read_engine = None if read_url is None else create_engine(read_url, role="read", database=settings.database)
    reads = None if read_engine is None else create_sessionmaker(read_engine)
    knowledge = _knowledge_base(settings, sessionmaker, reads)
    warm_up = None
    if warm_embedder:
        # Not a daemon: the interpreter waits for it at exit, as a process ending inside onnxruntime aborts.
        warm_up = threading.Thread(target=_warm_up, args=(knowledge,), name="embedder-warm-up")
        warm_up.start()
    from agent.service import AgentService

    tracing = LangfuseTracing.from_settings(settings.langfuse, environment=settings.environment)
    try:
        agent = AgentService(
            knowledge=knowledge, sessionmaker=sessionmaker, llm=settings.llm, settings=settings.agent, tracing=tracing
        )
    except BaseException:
        tracing.shutdown()
        raise
    return Services(
        sessionmaker=sessionmaker,
        knowledge=knowledge,
        tracing=tracing,
        agent=agent,
        read_engine=read_engine,
        warm_up=warm_up,
    )


def _warm_up(knowledge: KnowledgeBase) -> None:
    # A failure here is raised again, with its message, by the first real embedding; this thread only saves time.
    with contextlib.suppress(Exception):
        knowledge.embedder.warm_up()


def build_sources(settings: Settings, knowledge: KnowledgeBase) -> Sources:
    """The synced sources over ``knowledge``, with the chat platforms' history kinds this deployment has."""
    from bot.source_kinds import history_kinds
    from knowledge.sources.service import Sources

    return Sources(knowledge, extra_kinds=history_kinds(settings, knowledge.sessionmaker))
