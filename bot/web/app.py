"""The FastAPI application factory; everything a request needs is built in the lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.service import AgentService
from agent.text_vectors import TextVectors
from bot.limits import Limits
from bot.limits.database import EngineDatabase
from bot.platforms import start_platforms
from bot.queue import JobQueue
from bot.services import build_services, build_sources
from bot.slack import http as slack_http
from bot.source_schedule import SourceSchedule
from bot.web import admin, api, docs, health, metrics, playground
from bot.web.assets import mount_assets
from bot.web.body_limits import BodyLimitMiddleware
from bot.web.problems import install_problem_handlers
from bot.web.request_id import RequestIdMiddleware
from bot.web.security_headers import SecurityHeadersMiddleware
from bot.web.trusted_hosts import TrustedHostMiddleware, allowed_host_names
from core import __version__
from core.collector import freeze_long_lived
from core.db import create_engine, resolve_database_url
from core.health import describe_connection_error
from core.logging import get_logger
from core.schema import ensure_migrated
from core.sentry import init_sentry
from core.settings import DatabaseSettings, Settings
from knowledge.sources.service import Sources

log = get_logger(__name__)


class LifespanState(TypedDict):
    settings: Settings
    engine: AsyncEngine
    agent: AgentService
    gap_vectors: TextVectors
    """Kept across ``GET /admin`` loads, so gap questions are embedded once."""
    slack_handler: AsyncSlackRequestHandler | None
    queue: JobQueue | None
    limits: Limits
    """The API's questions a minute and answers at once (the worker keeps its own, on the queue's pool)."""
    sources: Sources


async def _check_schema(engine: AsyncEngine) -> None:
    """Refuse to serve on an un-migrated database; an unreachable one is reported by /readyz instead."""
    try:
        await ensure_migrated(engine)
    except (OSError, DBAPIError, TimeoutError) as error:
        log.warning(
            "database unreachable at start-up; /readyz reports 503 until it is", reason=describe_connection_error(error)
        )


CONNECTIONS_PER_JOB = 2
"""An answer's retrieval reads with two connections at once: its search, and the check for question words the
collections never use (``agent.nodes.retrieve``)."""


def _database_for(settings: Settings, *, worker: bool) -> DatabaseSettings:
    """A worker's pool keeps open the connections its jobs hold at once (plus two for the listeners and the
    pages), so that under load connections are not opened and closed again for every answer: each costs
    PostgreSQL a new backend process, and each new connection prepares every statement again. (``bench slack``,
    2,000 mentions: with one connection per job PostgreSQL counted 176 new sessions in the run and the server
    answered 90-96 questions a second; with two, 56 sessions and 105-112 a second.)"""
    database = settings.database
    if worker and (settings.slack.enabled or settings.discord.enabled):
        needed = CONNECTIONS_PER_JOB * settings.queue.concurrency + 2
        return database.model_copy(update={"pool_size": max(database.pool_size, needed)})
    return database


SYNC_STOP_SECONDS = 10.0
"""How long shutting down waits for a source sync under way before cancelling it (the source then shows the run
as cut short, and the next one completes it)."""


def _start_scheduled_syncs(stack: AsyncExitStack, sources: Sources, url: URL, database: DatabaseSettings) -> None:
    """The worker role also syncs the sources whose scheduled run has come (``bot/source_schedule.py``)."""
    schedule = SourceSchedule(sources, url, database=database)
    schedule.start()
    stack.push_async_callback(schedule.stop, SYNC_STOP_SECONDS)


def create_app(
    settings: Settings,
    *,
    role: str = "web",
    listeners: bool = True,
    worker: bool = True,
    gateway: bool = True,
    freeze_startup_objects: bool = False,
    warm_embedder: bool = False,
) -> FastAPI:
    """The web app; with Slack or Discord configured it also runs Slack's listeners (``listeners``), the Discord
    gateway (``gateway``) and a worker (``worker``). ``freeze_startup_objects``: for a server process, which
    starts the app once (tests start many apps in one process). ``warm_embedder``: load the embedding model at
    start, not at the first question (``build_services``)."""
    init_sentry(settings)  # before the app exists, so its integrations see every request

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[LifespanState]:
        url = await asyncio.to_thread(resolve_database_url, settings)
        engine = create_engine(url, role=role, database=_database_for(settings, worker=worker))
        try:
            await _check_schema(engine)
            services = build_services(settings, engine, warm_embedder=warm_embedder)
            sources = build_sources(settings, services.knowledge)
            async with AsyncExitStack() as stack:
                limits = Limits(settings.limits, EngineDatabase(engine))
                stack.push_async_callback(limits.aclose)
                # Closed after the platforms (the worker may still be answering until then); the traces sent last.
                stack.push_async_callback(services.aclose)
                platforms = await start_platforms(
                    stack,
                    settings,
                    url,
                    agent=services.agent,
                    sessionmaker=services.sessionmaker,
                    listeners=listeners,
                    worker=worker,
                    gateway=gateway,
                    freeze_after_first_answer=freeze_startup_objects,
                    sources=sources,
                )
                if worker:
                    _start_scheduled_syncs(stack, sources, url, settings.database)
                if freeze_startup_objects:
                    # What starting made (modules, the embedding model, LangChain) lives as long as the process:
                    # moved out of the collector's sight, so that each full collection under load no longer
                    # walks it (one such pause stalled every request for about 200 ms).
                    freeze_long_lived()
                log.info(
                    "threadwise web ready",
                    version=__version__,
                    environment=settings.environment,
                    llm=settings.llm.model or "none (extractive answers)",
                )
                yield {
                    "settings": settings,
                    "engine": engine,
                    "agent": services.agent,
                    "gap_vectors": TextVectors(services.knowledge.embedder),
                    "slack_handler": platforms.slack_handler,
                    "queue": platforms.queue,
                    "limits": limits,
                    "sources": sources,
                }
        finally:
            await engine.dispose()

    app = FastAPI(
        title="Threadwise",
        version=__version__,
        summary="Answers your team's questions from its own docs, in Slack and Discord.",
        lifespan=lifespan,
        # Our own /docs and /openapi.json (bot/web/docs.py): for the admin only, and with no CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_problem_handlers(app)  # before the request-id middleware, which must wrap its 500s
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(TrustedHostMiddleware, allowed=allowed_host_names(settings))
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: refusals get the headers too
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(playground.router)
    app.include_router(metrics.router)
    app.include_router(admin.router)
    app.include_router(slack_http.router)
    app.include_router(docs.router)
    mount_assets(app)
    return app
