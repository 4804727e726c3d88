"""``DATABASE_POOL_MODE=transaction``: what Threadwise does differently behind a pooler such as PgBouncer, checked
on the server directly (CI also runs every integration test through Debian's PgBouncer in transaction mode).

Behind such a pooler consecutive transactions may run on different server connections, so nothing may rely on
state kept on a connection: a named prepared statement, a ``SET``, a ``LISTEN``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.service import AgentService
from bot.doctor import run_checks
from bot.queue import JobQueue
from bot.worker import Worker
from core.db import create_engine, create_sessionmaker, statement_scope
from core.settings import AgentSettings, DatabaseSettings, KnowledgeSettings, LLMSettings, load_settings
from knowledge.service import KnowledgeBase
from tests.conftest import database_settings_for_tests
from tests.integration.helpers.agent import handbook
from tests.integration.helpers.queue import SETTINGS, RecordingDeliverer, question, queue

__all__ = ["handbook", "queue"]  # fixtures used below

TRANSACTION = DatabaseSettings(pool_mode="transaction", pool_size=1)


@pytest.fixture
def direct_url(database_url: URL) -> URL:
    """The session database on the server itself, past the pooler the suite may run through."""
    return database_settings_for_tests().listen_url_for(database_url) or database_url


@pytest.fixture
async def pooled_engine(direct_url: URL) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(direct_url, role="tests-pooled", database=TRANSACTION)
    yield engine
    await engine.dispose()


async def _named_statements(engine: AsyncEngine) -> int:
    sessionmaker = create_sessionmaker(engine)
    for value in range(3):  # a statement repeated is where a cache would keep it
        async with statement_scope(sessionmaker) as session:
            await session.execute(text("SELECT count(*) FROM collections WHERE id > :id"), {"id": value})
        async with sessionmaker() as session, session.begin():
            await session.execute(text("SELECT count(*) FROM chunks WHERE id > :id"), {"id": value})
    async with engine.connect() as connection:  # pool_size 1: the connection that ran them
        return int(await connection.scalar(text("SELECT count(*) FROM pg_prepared_statements")) or 0)


async def test_behind_a_transaction_pooler_no_statement_outlives_its_own_use(
    pooled_engine: AsyncEngine, direct_url: URL
) -> None:
    # A named statement stays on the server connection, which the pooler then hands to another client: the next
    # client to prepare the same name fails ("prepared statement "__asyncpg_stmt_1__" already exists").
    assert await _named_statements(pooled_engine) == 0
    caching = create_engine(direct_url, role="tests-caching", database=DatabaseSettings(pool_size=1))
    try:
        assert await _named_statements(caching) > 0  # what the default (session) mode does
    finally:
        await caching.dispose()


async def test_behind_a_transaction_pooler_each_vector_search_sets_its_own_ef_search(
    pooled_engine: AsyncEngine, kb: KnowledgeBase, handbook: str
) -> None:
    @event.listens_for(pooled_engine.sync_engine, "connect")
    def left_by_another_client(dbapi_connection: Any, connection_record: Any) -> None:
        # A server connection another client left with a narrow ef_search; no sequential scan, so that the HNSW
        # index answers (it returns at most ef_search rows).
        async def settings(connection: Any) -> None:
            await connection.execute("SET hnsw.ef_search = 1; SET enable_seqscan = off; SET enable_sort = off")

        dbapi_connection.run_async(settings)

    pooled = KnowledgeBase(
        sessionmaker=create_sessionmaker(pooled_engine), embedder=kb.embedder, settings=KnowledgeSettings()
    )
    hits = await pooled.search("signing key", tenant=handbook, mode="vector", limit=5)
    assert len(hits) > 1


async def test_a_worker_that_cannot_listen_polls_for_new_questions(
    direct_url: URL, queue: JobQueue, kb: KnowledgeBase, handbook: str
) -> None:
    role = f"tests-polling-{uuid.uuid4().hex[:6]}"
    database = DatabaseSettings(pool_mode="transaction")
    agent = AgentService(
        knowledge=kb, sessionmaker=kb.sessionmaker, llm=LLMSettings(), settings=AgentSettings(min_similarity=0.25)
    )
    async with await JobQueue.connect(direct_url, role=role, database=database) as own_queue:
        assert not own_queue.listens
        deliverer = RecordingDeliverer()
        # Only the poll finds it: jobs of dead workers are looked for every 30 s, nothing is notified.
        settings = SETTINGS.model_copy(update={"stalled_after_seconds": 60, "poll_interval": 0.2})
        worker = Worker(own_queue, agent, {"slack": deliverer}, settings)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            await asyncio.sleep(0.5)  # the worker is up and waiting
            assert await queue.enqueue(question(handbook))
            await asyncio.wait_for(deliverer.done.wait(), timeout=10)
            listening = await queue.pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
                f"threadwise-{role}",
            )
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=15)
            await agent.aclose()
    assert listening == 0
    assert len(deliverer.delivered) == 1


async def test_a_worker_behind_a_transaction_pooler_listens_on_the_direct_connection(direct_url: URL) -> None:
    # Without a name of its own, the listen URL's database is the one of DATABASE_URL.
    database = DatabaseSettings.model_validate(
        {
            "url": direct_url.render_as_string(hide_password=False),
            "pool_mode": "transaction",
            "listen_url": direct_url.set(database=None).render_as_string(hide_password=False),
        }
    )
    async with await JobQueue.connect(direct_url, role="tests-apart", database=database) as own_queue:
        assert own_queue.listens and own_queue.listen_pool is not None
        heard = asyncio.Event()
        async with own_queue.queries().driver as driver:
            await driver.add_listener("threadwise_pool_mode_test", lambda payload: heard.set())
            await own_queue.pool.execute("SELECT pg_notify('threadwise_pool_mode_test', 'ping')")
            await asyncio.wait_for(heard.wait(), timeout=5)
            in_use = {
                "statements": own_queue.pool.get_size() - own_queue.pool.get_idle_size(),
                "listen": own_queue.listen_pool.get_size() - own_queue.listen_pool.get_idle_size(),
            }
    assert in_use == {"statements": 0, "listen": 1}


async def _notifications(direct_url: URL, **database: str) -> list[tuple[bool, str]]:
    url = direct_url.render_as_string(hide_password=False)
    settings = load_settings(database={"url": url, "pool_mode": "session"} | database)
    return [(check.ok, check.detail) for check in await run_checks(settings) if check.name == "job notifications"]


@pytest.mark.usefixtures("without_pooler")  # the settings below say how to reach the server
async def test_doctor_checks_that_a_notification_reaches_the_listen_url(
    direct_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.notifications_check.NOTIFY_TIMEOUT", 1.0)
    assert await _notifications(direct_url) == []  # LISTEN where the statements go: nothing to check
    ((ok, detail),) = await _notifications(direct_url, pool_mode="transaction")
    assert ok and "look for new questions every 1 s" in detail
    direct = direct_url.set(database=None).render_as_string(hide_password=False)
    ((ok, detail),) = await _notifications(direct_url, pool_mode="transaction", listen_url=direct)
    assert ok and "arrived" in detail
    # Another database of the same server: its LISTEN never hears what is sent through DATABASE_URL.
    elsewhere = direct_url.set(database="postgres").render_as_string(hide_password=False)
    ((ok, detail),) = await _notifications(direct_url, pool_mode="transaction", listen_url=elsewhere)
    assert not ok and "did not arrive on DATABASE_LISTEN_URL" in detail
