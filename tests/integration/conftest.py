"""A real PostgreSQL with pgvector for integration tests.

The embedded server (under ``.data/test-pg``) by default, or the server of ``DATABASE_URL`` when set. The
session gets its own freshly created database, migrated once; each test runs in a transaction that is
rolled back. Tests that need an empty database of their own ask for ``empty_database_url``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.db import create_engine, create_sessionmaker
from core.embedded_postgres import start_embedded_postgres
from core.schema import run_migrations
from core.settings import KnowledgeSettings
from knowledge.embeddings import LocalEmbedder
from knowledge.service import KnowledgeBase
from tests.conftest import REPO_ROOT, TEST_DATABASE_URL, database_settings_for_tests


def _server_url() -> URL:
    if TEST_DATABASE_URL:
        return make_url(TEST_DATABASE_URL).set(drivername="postgresql+asyncpg")
    return start_embedded_postgres(REPO_ROOT / ".data" / "test", database="postgres")


class DatabaseFactory:
    """Creates throwaway databases on the test server and drops them all at the end."""

    def __init__(self, server: URL) -> None:
        self.server = server
        self.created: list[str] = []
        self._admin = create_engine(server, role="tests", database=database_settings_for_tests())

    async def create(self) -> URL:
        name = f"threadwise_test_{uuid.uuid4().hex[:12]}"
        async with self._admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.server.set(database=name)

    async def drop_all(self) -> None:
        async with self._admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            for name in self.created:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await self._admin.dispose()


@pytest_asyncio.fixture(scope="session")
async def databases() -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(await asyncio.to_thread(_server_url))
    yield factory
    await factory.drop_all()


@pytest_asyncio.fixture(scope="session")
async def database_url(databases: DatabaseFactory) -> URL:
    """The session's database, migrated to head once."""
    url = await databases.create()
    engine = create_engine(url, role="tests", database=database_settings_for_tests())
    try:
        await run_migrations(engine, "upgrade", "head")
    finally:
        await engine.dispose()
    return url


@pytest.fixture(scope="session")
def database_url_text(database_url: URL) -> str:
    """The session database's URL as ``DATABASE_URL`` would hold it."""
    return database_url.render_as_string(hide_password=False)


@pytest_asyncio.fixture(scope="session")
async def engine(database_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, role="tests", database=database_settings_for_tests())
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose work, commits included, is rolled back when the test ends."""
    async with engine.connect() as connection:
        outer = await connection.begin()
        session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            await session.close()
            await outer.rollback()


@pytest_asyncio.fixture
async def empty_database_url(databases: DatabaseFactory) -> URL:
    """A brand-new database with no schema at all."""
    return await databases.create()


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture
def kb(engine: AsyncEngine, embedder: LocalEmbedder) -> KnowledgeBase:
    return KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=embedder, settings=KnowledgeSettings())


@pytest.fixture
def tenant() -> str:
    # Ingests commit; a tenant of its own keeps each test's rows apart from the others'.
    return f"test:{uuid.uuid4().hex[:10]}"
