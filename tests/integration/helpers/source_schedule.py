"""Scheduled source syncs under test: a database of the module's own (a schedule takes whatever source is due,
anyone's), a fake website whose pages can be held mid-request, and the sources on that database."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest_asyncio
from sqlalchemy import delete, text, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_engine, create_sessionmaker, session_scope
from core.schema import run_migrations
from core.settings import KnowledgeSettings
from knowledge.embeddings import LocalEmbedder
from knowledge.service import KnowledgeBase
from knowledge.sources.models import Source
from knowledge.sources.service import Sources, SourceStatus
from tests.conftest import database_settings_for_tests
from tests.fakes.website import FakeWebsite
from tests.integration.conftest import DatabaseFactory

TENANT = "local"
NAME = "docs-site"
START_PAGE = "/docs/"
"""Requested once by every run of a website source: counting its requests counts the runs."""


@pytest_asyncio.fixture(scope="module")
async def schedule_database(databases: DatabaseFactory) -> URL:
    """A migrated database for one module's tests, away from the session's: a schedule runs any source due."""
    url = await databases.create()
    engine = create_engine(url, role="tests", database=database_settings_for_tests())
    try:
        await run_migrations(engine, "upgrade", "head")
    finally:
        await engine.dispose()  # its connections predate pgvector: they cannot send vectors
    return url


@pytest_asyncio.fixture
async def own_engine(schedule_database: URL) -> AsyncIterator[AsyncEngine]:
    """An engine on the module's database; the test's sources and schedules go when it ends: the next test sees
    none."""
    engine = create_engine(schedule_database, role="tests", database=database_settings_for_tests())
    try:
        yield engine
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(Source))
            await connection.execute(text("DELETE FROM pgqueuer_schedules"))
        await engine.dispose()


def sources_on(engine: AsyncEngine, embedder: LocalEmbedder) -> Sources:
    return Sources(
        KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=embedder, settings=KnowledgeSettings())
    )


async def add_site(sources: Sources, site: FakeWebsite, *, every: int | None) -> SourceStatus:
    return await sources.add(
        tenant=TENANT,
        name=NAME,
        kind="website",
        collection="docs",
        settings={"start_urls": [site.url(START_PAGE)], "max_depth": 1},
        every_seconds=every,
    )


async def status(sources: Sources) -> SourceStatus:
    return await sources.get(tenant=TENANT, name=NAME)


async def move_last_run_back(sources: Sources, by: timedelta) -> None:
    """As if the last run had started (and last beat) ``by`` earlier (time passing, without waiting)."""
    async with session_scope(sources.knowledge.sessionmaker) as session:
        await session.execute(
            update(Source)
            .where(Source.name == NAME)
            .values(last_run_at=Source.last_run_at - by, heartbeat_at=Source.heartbeat_at - by)
        )


@dataclass
class HeldWebsite(FakeWebsite):
    """A fake website that can hold the next request for a page until the test lets it go."""

    held: list[str] = field(default_factory=list)
    """The pages whose request is being held, or was."""
    _pending: dict[str, threading.Event] = field(default_factory=dict)
    _gates: list[threading.Event] = field(default_factory=list)

    def hold(self, path: str) -> threading.Event:
        """Hold the next request for ``path``; set the event returned to let it through."""
        gate = self._pending[path] = threading.Event()
        self._gates.append(gate)
        return gate

    def release_all(self) -> None:
        for gate in self._gates:
            gate.set()

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        route = urlsplit(handler.path).path
        gate = self._pending.pop(route, None)
        if gate is not None:
            self.held.append(route)
            gate.wait(timeout=60)
        super().respond(handler)

    def runs_started(self, *, since: int = 0) -> int:
        return self.paths_requested(since=since).count(START_PAGE)
