"""The connection pool: a connection PostgreSQL closed while it sat idle is replaced before anyone uses it; sessions
that commit each statement on their own."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import create_engine, create_sessionmaker, session_scope, statement_scope
from tests.conftest import POOLED_PER_TRANSACTION, database_settings_for_tests

BEHIND_NO_POOLER = pytest.mark.skipif(
    POOLED_PER_TRANSACTION,
    reason="a server connection that closes is the pooler's to replace: the client's connection to it stays open",
)


async def _backend_pid(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with session_scope(sessionmaker) as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


async def _terminate(admin: AsyncEngine, pid: int) -> None:
    """End the backend as a restart would, and wait until it is gone."""
    async with admin.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(100):
            alive = await connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
            if not alive:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"backend {pid} did not exit")


@BEHIND_NO_POOLER
async def test_a_connection_closed_while_idle_is_replaced_without_an_error(
    database_url: URL, engine: AsyncEngine
) -> None:
    pooled = create_engine(
        database_url, role="tests-pool", database=database_settings_for_tests(pool_size=1), ping_after_idle=0.0
    )
    try:
        sessionmaker = create_sessionmaker(pooled)
        first = await _backend_pid(sessionmaker)
        await _terminate(engine, first)
        second = await _backend_pid(sessionmaker)  # the ping found the connection dead: a new one answered
        assert second != first
    finally:
        await pooled.dispose()


@BEHIND_NO_POOLER
async def test_a_connection_used_moments_ago_is_not_pinged(database_url: URL, engine: AsyncEngine) -> None:
    pooled = create_engine(
        database_url, role="tests-pool", database=database_settings_for_tests(pool_size=1), ping_after_idle=3600.0
    )
    try:
        sessionmaker = create_sessionmaker(pooled)
        first = await _backend_pid(sessionmaker)
        await _terminate(engine, first)
        # Not pinged, so the first query finds the connection closed; the pool then starts afresh.
        with pytest.raises(DBAPIError):
            await _backend_pid(sessionmaker)
        assert await _backend_pid(sessionmaker) != first
    finally:
        await pooled.dispose()


async def _two_clock_readings(scope: Any, sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[Any, Any]:
    """``now()`` is when the transaction began: two statements in one transaction read the same value."""
    async with scope(sessionmaker) as session:
        first = await session.scalar(text("SELECT now()"))
        await asyncio.sleep(0.01)
        return first, await session.scalar(text("SELECT now()"))


async def test_a_statement_scope_commits_each_statement_on_its_own(engine: AsyncEngine) -> None:
    sessionmaker = create_sessionmaker(engine)
    first, second = await _two_clock_readings(statement_scope, sessionmaker)
    assert first < second
    # The connection goes back to the pool, and the next session is one transaction again.
    first, second = await _two_clock_readings(session_scope, sessionmaker)
    assert first == second

    tenant = f"test:{uuid.uuid4().hex[:10]}"

    async def insert_then_fail() -> None:
        async with statement_scope(sessionmaker) as session:
            await session.execute(
                text("INSERT INTO conversations (tenant, platform, channel, thread) VALUES (:t, 'slack', 'C', '')"),
                {"t": tenant},
            )
            raise RuntimeError("the block fails after its statement")

    with pytest.raises(RuntimeError, match="after its statement"):
        await insert_then_fail()
    async with session_scope(sessionmaker) as session:  # committed already: the failure did not undo it
        kept = await session.scalar(text("DELETE FROM conversations WHERE tenant = :t RETURNING 1"), {"t": tenant})
    assert kept == 1
