"""Which sources are due, and that a run is claimed once: the SQL the worker's scheduler relies on."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_sessionmaker, session_scope
from knowledge.service import KnowledgeBase
from knowledge.sources.models import Source
from knowledge.sources.service import Sources
from knowledge.sources.store import FIRST_RETRY, claim, find_source, finish

HOUR = 3600


async def _add(sources: Sources, tenant: str, name: str, *, every: int | None) -> int:
    await sources.add(
        tenant=tenant,
        name=name,
        kind="website",
        collection="docs",
        settings={"start_urls": ["http://127.0.0.1:9/"]},
        every_seconds=every,
    )
    async with session_scope(sources.knowledge.sessionmaker) as session:
        source = await find_source(session, tenant=tenant, name=name)
        assert source is not None
        return source.id


async def _ran(kb: KnowledgeBase, source_id: int, *, ago: timedelta, failures: int = 0, state: str = "idle") -> None:
    async with session_scope(kb.sessionmaker) as session:
        await session.execute(
            update(Source)
            .where(Source.id == source_id)
            .values(last_run_at=Source.created_at - ago, failures=failures, state=state)
        )


async def test_due_sources_follow_schedule_pause_and_failure_backoff(kb: KnowledgeBase, tenant: str) -> None:
    sources = Sources(kb)
    await _add(sources, tenant, "never-run", every=HOUR)
    recent = await _add(sources, tenant, "recent", every=HOUR)
    old = await _add(sources, tenant, "old", every=HOUR)
    failed_once = await _add(sources, tenant, "failed-once", every=HOUR)
    failed_often = await _add(sources, tenant, "failed-often", every=HOUR)
    await _add(sources, tenant, "on-demand", every=None)
    paused = await _add(sources, tenant, "paused", every=HOUR)
    running = await _add(sources, tenant, "running", every=HOUR)

    await _ran(kb, recent, ago=timedelta(minutes=10))
    await _ran(kb, old, ago=timedelta(minutes=61))
    # One failure: retried after 5 minutes, not after the hour.
    await _ran(kb, failed_once, ago=FIRST_RETRY + timedelta(seconds=5), failures=1, state="failed")
    # Four failures: 40 minutes (5 × 2³) must pass; 20 is too soon.
    await _ran(kb, failed_often, ago=timedelta(minutes=20), failures=4, state="failed")
    await _ran(kb, paused, ago=timedelta(hours=5))
    await sources.pause(tenant=tenant, name="paused")
    await _ran(kb, running, ago=timedelta(hours=1, minutes=1), state="running")

    due = {name for t, name in await sources.due() if t == tenant}
    assert due == {"never-run", "old", "failed-once"}
    # Never run first: a new source does not wait behind old ones.
    assert next(name for t, name in await sources.due() if t == tenant) == "never-run"


async def test_a_run_is_claimed_once_and_a_failure_counts(engine: AsyncEngine, kb: KnowledgeBase, tenant: str) -> None:
    source_id = await _add(Sources(kb), tenant, "site", every=HOUR)
    sessionmaker = create_sessionmaker(engine)

    async def try_claim() -> bool:
        async with session_scope(sessionmaker) as session:
            return await claim(session, source_id)

    # Two replicas at once: one wins.
    assert sorted(await asyncio.gather(try_claim(), try_claim())) == [False, True]
    async with session_scope(sessionmaker) as session:
        await finish(session, source_id, error="the site answered HTTP 500 three times")
        await finish(session, source_id, error="the site answered HTTP 500 three times")
    async with session_scope(sessionmaker) as session:
        source = await session.get(Source, source_id)
        assert source is not None
        assert (source.state, source.failures, source.last_success_at) == ("failed", 2, None)
    assert await try_claim()  # a failed source may run again
    async with session_scope(sessionmaker) as session:
        await finish(session, source_id, error=None)
        source = await session.get(Source, source_id)
        assert source is not None
        assert (source.state, source.failures, source.last_error) == ("idle", 0, None)
        assert source.last_success_at is not None
