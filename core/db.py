"""Database access: the async engine, the unit of work, and the declarative base every model shares."""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any

from pgvector.asyncpg import register_vector
from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from core.embedded_postgres import start_embedded_postgres
from core.settings import DatabaseSettings, Settings

# Stable constraint names, so Alembic can drop and alter what it created.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every Threadwise table; one metadata for Alembic."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def resolve_database_url(settings: Settings) -> URL:
    """The configured ``DATABASE_URL``, or the embedded server's (started on demand). Blocking."""
    configured = settings.database.async_url()
    if configured is not None:
        return configured
    return start_embedded_postgres(settings.app.data_dir)


HNSW_EF_SEARCH = 100
"""The HNSW ``ef_search`` every connection starts with, the search's default (``knowledge.search.SearchParams``):
a search that keeps it needs no transaction around a ``SET LOCAL``."""

PING_AFTER_IDLE_SECONDS = 10.0
"""A pooled connection that sat unused this long is pinged before it is handed out (see ``_ping_idle_connections``)."""


def create_engine(
    url: URL,
    *,
    role: str,
    database: DatabaseSettings | None = None,
    ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
) -> AsyncEngine:
    """An asyncpg engine whose connections name their role in ``pg_stat_activity``."""
    database = database or DatabaseSettings()
    connect_args: dict[str, Any] = {
        "timeout": database.connect_timeout,
        "server_settings": {"application_name": f"threadwise-{role}"},
    }
    if database.pooled_per_transaction:
        connect_args = _without_statement_caches(connect_args)
    engine = create_async_engine(
        url,
        pool_size=database.pool_size,
        max_overflow=database.pool_size,
        echo=database.echo,
        # Statement errors quote their SQL but not its parameters: those hold questions, user ids and vectors.
        hide_parameters=True,
        connect_args=connect_args,
    )
    if database.pooled_per_transaction:
        _pooled_per_transaction.add(engine)
    _prepare_each_connection(engine, keeps_settings=not database.pooled_per_transaction)
    _ping_idle_connections(engine, after=ping_after_idle)
    return engine


_pooled_per_transaction: weakref.WeakSet[AsyncEngine] = weakref.WeakSet()


def _without_statement_caches(connect_args: dict[str, Any]) -> dict[str, Any]:
    """The connection arguments for a server reached through a transaction pooler (PgBouncer).

    A named prepared statement lives on the server connection it was prepared on, which the pooler hands to
    other clients after the transaction: the next client to prepare the same name fails ("already exists"), and
    a cached statement may be gone on the connection the next transaction gets. Unnamed statements only: asyncpg
    sends Parse and Bind with no Sync between them, so each statement stays on one server connection.
    (Arguments rather than the URL's query: the URL is also handed to asyncpg itself, e.g. for the job queue.)
    """
    return connect_args | {
        "prepared_statement_cache_size": 0,  # SQLAlchemy's
        "statement_cache_size": 0,  # asyncpg's
        "prepared_statement_name_func": _unnamed,
    }


def _unnamed() -> str:
    return ""


def keeps_session_settings(engine: AsyncEngine | None) -> bool:
    """Whether a setting made on one of ``engine``'s connections (``SET``) holds for its later transactions: not
    when it goes through a transaction pooler (``DATABASE_POOL_MODE=transaction``). ``None``: a session bound to
    one connection (a test's transaction), which keeps them."""
    return engine is None or engine not in _pooled_per_transaction


def _ping_idle_connections(engine: AsyncEngine, *, after: float) -> None:
    """Ping a pooled connection before handing it out only when it sat unused for ``after`` seconds.

    A connection PostgreSQL closed while it sat in the pool (a restart, an idle timeout on the way) is then
    replaced instead of failing the first query. SQLAlchemy's ``pool_pre_ping`` does this on every checkout:
    three round trips (BEGIN, a ping, ROLLBACK) for each session, measured here at ~110 µs of CPU on a session
    that costs ~400 µs without it, several times per answer. A connection used within the last seconds was
    alive then; if the server went away since, the first query fails, SQLAlchemy discards every pooled
    connection, and the next ones are fresh.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def on_checkin(dbapi_connection: Any, connection_record: Any) -> None:
        connection_record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def on_checkout(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        returned_at = connection_record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < after:
            return  # a new connection, or one in use moments ago
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool discards this connection and hands out another (it tries up to three times).
            raise DisconnectionError(f"pooled connection is gone: {error}") from error


async def _prepare_connection(connection: Any, *, keeps_settings: bool) -> None:
    if keeps_settings:
        # A SET rather than a startup parameter: connection poolers such as PgBouncer refuse unknown ones.
        await connection.execute(f"SET hnsw.ef_search = {int(HNSW_EF_SEARCH)}")
    with suppress(ValueError):  # no vector type yet: a fresh database before `threadwise db upgrade`
        await register_vector(connection)


def _prepare_each_connection(engine: AsyncEngine, *, keeps_settings: bool) -> None:
    """Send and receive pgvector values in binary (numpy arrays) on every connection, and start each with the
    search's ``ef_search`` (``HNSW_EF_SEARCH``) when the connection keeps its settings (no transaction pooler:
    behind one, each search sets its own).

    Vectors therefore travel as numpy arrays through raw SQL and COPY; SQLAlchemy's text-based ``Vector``
    bind processing is never used for writes.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.run_async(partial(_prepare_connection, keeps_settings=keeps_settings))


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def bound_engine(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncEngine | None:
    """The engine ``sessionmaker`` is bound to; ``None`` when it is bound to one connection (a test's
    transaction) or to nothing."""
    bind = sessionmaker.kw.get("bind")
    return bind if isinstance(bind, AsyncEngine) else None


_autocommitting: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def statement_scope(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in which every statement commits on its own: for work that is a single statement, or several
    that need not stand or fall together.

    It saves BEGIN and COMMIT, two of the three round trips of a one-statement ``session_scope``: an answer
    opens four such sessions, and under load every round trip also waits its turn on the event loop.
    """
    engine = bound_engine(sessionmaker)
    if engine is None:  # bound to one connection (its transaction decides) or to nothing
        async with session_scope(sessionmaker) as session:
            yield session
        return
    if (autocommitting := _autocommitting.get(engine)) is None:
        # Same pool: the isolation level is set on a connection when it is checked out, and reset on return.
        autocommitting = _autocommitting[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with sessionmaker(bind=autocommitting) as session:
        yield session


@asynccontextmanager
async def session_scope(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit when the block ends normally, roll back when it raises.

    Services only flush; the caller that opened the scope owns the commit.
    """
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


async def vacuum_analyze(engine: AsyncEngine, tables: str, *, skip_locked: bool = False) -> None:
    """``VACUUM ANALYZE`` of ``tables`` (comma-separated, names of our own), outside a transaction as VACUUM must
    be. ``skip_locked``: a table another session holds (a VACUUM, an index build) is left for autovacuum rather
    than waited for."""
    options = "ANALYZE, SKIP_LOCKED" if skip_locked else "ANALYZE"
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f"VACUUM ({options}) {tables}"))
