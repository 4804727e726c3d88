"""Typed FastAPI dependencies over the lifespan state (``bot/web/app.py``'s ``LifespanState``): the one module
that reads the app's services off ``request.state``. A route takes what it needs as a parameter, e.g.
``agent: AgentDep``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agent.service import AgentService
from agent.text_vectors import TextVectors
from bot.limits import Limits
from bot.queue import JobQueue
from core.settings import Settings
from knowledge.sources.service import Sources


async def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


def settings_of(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def agent_of(request: Request) -> AgentService:
    agent: AgentService = request.state.agent
    return agent


def sessionmaker_of(request: Request) -> async_sessionmaker[AsyncSession]:
    """The app's sessionmaker (the agent's: one connection pool per process)."""
    return agent_of(request).store.sessionmaker


async def get_gap_vectors(request: Request) -> TextVectors:
    vectors: TextVectors = request.state.gap_vectors
    return vectors


async def get_limits(request: Request) -> Limits:
    limits: Limits = request.state.limits
    return limits


async def get_sources(request: Request) -> Sources:
    sources: Sources = request.state.sources
    return sources


async def get_queue(request: Request) -> JobQueue | None:
    """The job queue; ``None`` without Slack or Discord configured."""
    queue: JobQueue | None = getattr(request.state, "queue", None)
    return queue


async def get_slack_handler(request: Request) -> AsyncSlackRequestHandler | None:
    """Slack's request handler; ``None`` when Slack over HTTP is not configured."""
    handler: AsyncSlackRequestHandler | None = getattr(request.state, "slack_handler", None)
    return handler


# FastAPI runs a plain ``def`` dependency in its thread pool: each one a thread hop per request, which under load
# raised Slack's HTTP ack p50 from about 40 ms to 70 ms. Reading request.state needs no thread: these are async.


async def get_settings(request: Request) -> Settings:
    return settings_of(request)


async def get_agent(request: Request) -> AgentService:
    return agent_of(request)


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    return sessionmaker_of(request)


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AgentDep = Annotated[AgentService, Depends(get_agent)]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
GapVectorsDep = Annotated[TextVectors, Depends(get_gap_vectors)]
"""Kept across ``GET /admin`` loads, so gap questions are embedded once."""
LimitsDep = Annotated[Limits, Depends(get_limits)]
"""The API's questions a minute and answers at once."""
SourcesDep = Annotated[Sources, Depends(get_sources)]
QueueDep = Annotated[JobQueue | None, Depends(get_queue)]
SlackHandlerDep = Annotated[AsyncSlackRequestHandler | None, Depends(get_slack_handler)]
