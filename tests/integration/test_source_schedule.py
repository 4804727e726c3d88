"""Which sources are due, that a scheduled run is taken once and a run claimed once, that a dead run is taken over:
the SQL the worker's schedule relies on; and this process's scheduled syncs (backing off, stopping)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

import knowledge.sources.sync
from bot.source_schedule import EVERY_MINUTE, SYNC_SOURCES_ENTRYPOINT, SourceSchedule
from bot.web.app import create_app
from core.db import create_sessionmaker, session_scope
from core.settings import load_settings
from knowledge.embeddings import LocalEmbedder
from knowledge.service import KnowledgeBase
from knowledge.sources.models import Source
from knowledge.sources.scheduler import ScheduledSyncs
from knowledge.sources.service import Sources
from knowledge.sources.store import DIED, FIRST_RETRY, STALE_RUN, claim, find_source, finish, take_due
from tests.conftest import database_settings_for_tests
from tests.fakes.website import FakeWebsite, serving_website
from tests.integration.helpers.queue import until
from tests.integration.helpers.source_schedule import (
    NAME,
    START_PAGE,
    TENANT,
    HeldWebsite,
    add_site,
    move_last_run_back,
    own_engine,
    schedule_database,
    sources_on,
    status,
)

__all__ = ["own_engine", "schedule_database"]  # fixtures used below

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


async def _ran(
    kb: KnowledgeBase,
    source_id: int,
    *,
    ago: timedelta,
    failures: int = 0,
    state: str = "idle",
    beat_ago: timedelta | None = None,
) -> None:
    """As if its last run had started ``ago`` (and, running, last noted it was alive ``beat_ago``, else then)."""
    async with session_scope(kb.sessionmaker) as session:
        await session.execute(
            update(Source)
            .where(Source.id == source_id)
            .values(
                last_run_at=Source.created_at - ago,
                heartbeat_at=Source.created_at - (ago if beat_ago is None else beat_ago),
                failures=failures,
                state=state,
            )
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
    died = await _add(sources, tenant, "died", every=HOUR)

    await _ran(kb, recent, ago=timedelta(minutes=10))
    await _ran(kb, old, ago=timedelta(minutes=61))
    # One failure: retried after 5 minutes, not after the hour.
    await _ran(kb, failed_once, ago=FIRST_RETRY + timedelta(seconds=5), failures=1, state="failed")
    # Four failures: 40 minutes (5 × 2³) must pass; 20 is too soon.
    await _ran(kb, failed_often, ago=timedelta(minutes=20), failures=4, state="failed")
    await _ran(kb, paused, ago=timedelta(hours=5))
    await sources.pause(tenant=tenant, name="paused")
    # Running for over an hour, and still beating: a long run, not a dead one.
    await _ran(kb, running, ago=timedelta(hours=1, minutes=1), state="running", beat_ago=timedelta(seconds=30))
    # Marked running without a heartbeat for longer than STALE_RUN: it died with its process, and must not stay
    # running forever.
    await _ran(kb, died, ago=STALE_RUN + timedelta(minutes=1), state="running")

    due = {name for t, name in await sources.due() if t == tenant}
    assert due == {"never-run", "old", "failed-once", "died"}
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
    # A run is taken over only once it is stale (its process died).
    await _ran(kb, source_id, ago=STALE_RUN - timedelta(minutes=1), state="running")
    assert not await try_claim()
    await _ran(kb, source_id, ago=STALE_RUN + timedelta(minutes=1), state="running")
    assert await try_claim()
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


async def test_a_scheduled_run_is_taken_once_and_a_dead_run_is_taken_over(
    own_engine: AsyncEngine, embedder: LocalEmbedder
) -> None:
    sources = sources_on(own_engine, embedder)
    source_id = await _add(sources, TENANT, NAME, every=HOUR)
    sessionmaker = sources.knowledge.sessionmaker

    async def take() -> str | None:
        async with session_scope(sessionmaker) as session:
            due = await take_due(session)
            return None if due is None else due.name

    # Replicas looking at once: one takes the run, even though none of them has claimed it yet.
    names = await asyncio.gather(*(take() for _ in range(5)))
    assert sorted(names, key=lambda name: name is None) == [NAME, None, None, None, None]
    assert await take() is None

    # A run still marked running after STALE_RUN died with its process: taken over once, and recorded as failed.
    async with session_scope(sessionmaker) as session:
        assert await claim(session, source_id)
    await move_last_run_back(sources, STALE_RUN - timedelta(minutes=1))
    assert await take() is None  # it may still be running
    await move_last_run_back(sources, timedelta(minutes=2))
    async with session_scope(sessionmaker) as session:
        taken = await take_due(session)
    assert taken is not None and taken.died
    after = await status(sources)
    assert (after.state, after.last_error, after.failures) == ("failed", DIED, 1)
    assert await take() is None


async def test_a_long_run_that_beats_is_never_taken_over(
    own_engine: AsyncEngine, embedder: LocalEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(knowledge.sources.sync, "HEARTBEAT_EVERY", timedelta(milliseconds=50))
    sources = sources_on(own_engine, embedder)
    site = HeldWebsite(pages=2)
    with serving_website(site):
        try:
            await add_site(sources, site, every=HOUR)
            gate = site.hold("/docs/page-0.html")
            run = asyncio.create_task(sources.sync(tenant=TENANT, name=NAME))
            await until(lambda: bool(site.held), "the run reaching page 0")
            await move_last_run_back(sources, 3 * STALE_RUN)  # started long ago…
            await asyncio.sleep(0.3)  # …but it beats
            async with session_scope(sources.knowledge.sessionmaker) as session:
                assert await take_due(session) is None
                assert not await claim(session, (await find_source(session, tenant=TENANT, name=NAME)).id)  # type: ignore[union-attr]
            gate.set()
            report = await run
        finally:
            site.release_all()
    assert report.error is None and (await status(sources)).state == "idle"


async def test_a_failing_source_is_retried_sooner_than_its_schedule_then_less_and_less_often(
    own_engine: AsyncEngine, embedder: LocalEmbedder
) -> None:
    sources = sources_on(own_engine, embedder)
    syncs = ScheduledSyncs(sources)
    with serving_website(FakeWebsite(pages=2, sitemap=False)) as site:
        await add_site(sources, site, every=HOUR)
        site.fail(START_PAGE, 404, times=100)  # no pages at all: the run fails, keeping what is indexed
        assert await syncs.run_due() == 1
        failed = await status(sources)
        assert (failed.state, failed.failures) == ("failed", 1) and "found no pages" in (failed.last_error or "")
        assert await syncs.run_due() == 0  # not again at once

        await move_last_run_back(sources, FIRST_RETRY)  # five minutes later: tried again, failing again
        assert await syncs.run_due() == 1
        assert (await status(sources)).failures == 2
        await move_last_run_back(sources, FIRST_RETRY)  # now ten minutes must pass
        assert await syncs.run_due() == 0
        await move_last_run_back(sources, FIRST_RETRY)
        site.failures.clear()  # the site is back
        assert await syncs.run_due() == 1
        recovered = await status(sources)
        assert (recovered.state, recovered.failures, recovered.last_error) == ("idle", 0, None)
        assert site.paths_requested().count(START_PAGE) == 3
        assert await syncs.run_due() == 0  # back on its hourly schedule


async def test_a_source_whose_kind_is_unknown_here_fails_where_people_look(
    own_engine: AsyncEngine, embedder: LocalEmbedder
) -> None:
    sources = sources_on(own_engine, embedder)
    await _add(sources, TENANT, NAME, every=HOUR)
    async with session_scope(sources.knowledge.sessionmaker) as session:  # e.g. a platform's history, unset here
        await session.execute(update(Source).where(Source.name == NAME).values(kind="elsewhere"))
    assert await ScheduledSyncs(sources).run_due() == 0
    failed = await status(sources)
    assert (failed.state, failed.failures) == ("failed", 1)
    assert "unknown source kind 'elsewhere'" in (failed.last_error or "")
    assert await ScheduledSyncs(sources).run_due() == 0  # backing off like any failure


async def test_stopping_lets_a_run_finish_for_a_while_then_cuts_it_short(
    own_engine: AsyncEngine, embedder: LocalEmbedder
) -> None:
    sources = sources_on(own_engine, embedder)
    url = own_engine.url
    site = HeldWebsite(pages=2)
    with serving_website(site):
        try:
            await add_site(sources, site, every=HOUR)
            # A run held up for a moment finishes within the grace period.
            gate = site.hold("/docs/page-0.html")
            schedule = SourceSchedule(sources, url, database=database_settings_for_tests(), expression="* * * * * *")
            schedule.start()
            await until(lambda: bool(site.held), "the run reaching page 0")
            asyncio.get_running_loop().call_later(0.3, gate.set)
            await schedule.stop(grace=10.0)
            finished = await status(sources)
            assert (finished.state, finished.last_error) == ("idle", None) and finished.last_success_at is not None

            # One held up for longer is cancelled when the grace period is over, and shows it.
            await move_last_run_back(sources, timedelta(seconds=HOUR))
            site.hold("/docs/page-1.html")
            schedule = SourceSchedule(sources, url, database=database_settings_for_tests(), expression="* * * * * *")
            schedule.start()
            await until(lambda: len(site.held) == 2, "the run reaching page 1")
            started = asyncio.get_running_loop().time()
            await schedule.stop(grace=0.5)
            assert asyncio.get_running_loop().time() - started < 5
            cut_short = await status(sources)
            assert (cut_short.state, cut_short.last_error) == ("failed", "cancelled before the run was over")
        finally:
            site.release_all()


async def test_the_worker_role_puts_the_sync_schedule_in_pgqueuer(own_engine: AsyncEngine) -> None:
    url = own_engine.url.render_as_string(hide_password=False)
    app = create_app(load_settings(database={"url": url}), role="worker", listeners=False, gateway=False)
    async with LifespanManager(app):
        for _ in range(100):
            async with own_engine.connect() as connection:
                rows = (await connection.execute(text("SELECT entrypoint, expression FROM pgqueuer_schedules"))).all()
            if rows:
                break
            await asyncio.sleep(0.05)
    assert [tuple(row) for row in rows] == [(SYNC_SOURCES_ENTRYPOINT, EVERY_MINUTE)]
