"""Reading and writing sources and their items, in the caller's unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.collections import check_name
from knowledge.errors import KnowledgeError
from knowledge.models import Collection
from knowledge.sources.models import Source, SourceItem

FIRST_RETRY = timedelta(minutes=5)
"""After a failed run the source is tried again this soon, then twice as long after each further failure."""
HEARTBEAT_EVERY = timedelta(minutes=1)
"""How often a run under way notes that it is alive (``Source.heartbeat_at``), however long it takes."""
STALE_RUN = timedelta(minutes=10)
"""A run marked running whose process has not noted it alive for this long died with it (killed, machine lost): it
may be claimed again, and a scheduled source is then due. Ten heartbeats: a busy database may delay a few."""
DIED = "its last run stopped unfinished (the process running it ended)"
"""The last error of a source whose run died: recorded when the schedule takes it over."""


@dataclass(frozen=True, slots=True)
class KnownItem:
    version: str
    source_uri: str


async def add_source(
    session: AsyncSession,
    *,
    tenant: str,
    name: str,
    collection: Collection,
    kind: str,
    settings: dict[str, Any],
    every_seconds: int | None,
) -> Source:
    check_name(name)
    if await find_source(session, tenant=tenant, name=name) is not None:
        raise KnowledgeError(f"tenant {tenant!r} already has a source named {name!r}")
    source = Source(
        tenant=tenant,
        name=name,
        collection_id=collection.id,
        kind=kind,
        settings=settings,
        every_seconds=every_seconds,
    )
    session.add(source)
    await session.flush()
    return source


async def find_source(session: AsyncSession, *, tenant: str, name: str) -> Source | None:
    return await session.scalar(select(Source).where(Source.tenant == tenant, Source.name == name))


async def list_sources(session: AsyncSession, *, tenant: str | None = None) -> list[Source]:
    query = select(Source).order_by(Source.tenant, Source.name)
    if tenant is not None:
        query = query.where(Source.tenant == tenant)
    return list(await session.scalars(query))


async def list_sources_in_collections(session: AsyncSession, *, tenant: str | None = None) -> list[tuple[Source, str]]:
    """Each source with the name of its collection, in one query (the dashboard and ``/metrics`` list them all)."""
    query = (
        select(Source, Collection.name)
        .join(Collection, Collection.id == Source.collection_id)
        .order_by(Source.tenant, Source.name)
    )
    if tenant is not None:
        query = query.where(Source.tenant == tenant)
    return [(source, name) for source, name in (await session.execute(query)).all()]


async def collection_of(session: AsyncSession, source: Source) -> Collection:
    collection = await session.get(Collection, source.collection_id)
    if collection is None:  # the foreign key cascades: a source never outlives its collection
        raise KnowledgeError(f"source {source.name!r} has no collection")
    return collection


async def set_paused(session: AsyncSession, source: Source, *, paused: bool) -> None:
    await session.execute(update(Source).where(Source.id == source.id).values(paused=paused))


async def claim(session: AsyncSession, source_id: int) -> bool:
    """Mark the source running, unless a run is already under way (across every process and replica): one run at
    a time. A run left marked for longer than ``STALE_RUN`` is taken over."""
    claimed = await session.scalar(
        update(Source)
        .where(
            Source.id == source_id,
            or_(Source.state != "running", _last_sign_of_life() < func.now() - STALE_RUN),
        )
        .values(state="running", last_run_at=func.now(), heartbeat_at=func.now())
        .returning(Source.id)
    )
    return claimed is not None


def _last_sign_of_life() -> ColumnElement[datetime]:
    return func.coalesce(Source.heartbeat_at, Source.last_run_at)


async def beat(session: AsyncSession, source_id: int) -> None:
    """The run under way is alive."""
    await session.execute(
        update(Source).where(Source.id == source_id, Source.state == "running").values(heartbeat_at=func.now())
    )


async def finish(session: AsyncSession, source_id: int, *, error: str | None) -> None:
    """The run is over: idle (and successful now) without ``error``, failed with it. The counts are those of the
    items now stored."""
    counts = select(func.count()).select_from(SourceItem).where(SourceItem.source_id == source_id).scalar_subquery()
    values: dict[str, Any] = {"state": "failed" if error else "idle", "last_error": error, "items": counts}
    if error is None:
        values |= {"last_success_at": func.now(), "failures": 0}
    else:
        values["failures"] = Source.failures + 1
    await session.execute(update(Source).where(Source.id == source_id).values(**values))


async def count_chunks(session: AsyncSession, source_id: int) -> None:
    """The chunks of the source's documents, stored on the source for listings."""
    await session.execute(
        text(
            "UPDATE sources SET chunks = coalesce(("
            " SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id"
            " JOIN source_items i ON i.source_uri = d.source_uri AND i.source_id = :id"
            " WHERE d.collection_id = sources.collection_id), 0) WHERE id = :id"
        ),
        {"id": source_id},
    )


_DUE = (
    "NOT paused AND every_seconds IS NOT NULL AND ("
    " state <> 'running' AND (last_run_at IS NULL OR last_run_at + make_interval(secs => CASE WHEN failures > 0"
    "   THEN least(every_seconds, :retry * power(2, least(failures - 1, 20))) ELSE every_seconds END) <= now())"
    " OR state = 'running' AND coalesce(heartbeat_at, last_run_at) < now() - make_interval(secs => :stale))"
)
"""Scheduled, not paused, and either its interval over since the last run (after failures, sooner: 5 minutes,
doubling each time, never beyond the interval) or its run dead (no heartbeat for ``STALE_RUN``)."""
_DUE_PARAMETERS = {"retry": FIRST_RETRY.total_seconds(), "stale": STALE_RUN.total_seconds()}
_TAKE_DUE = (
    "WITH due AS ("  # noqa: S608 (constants only)
    f" SELECT id, state = 'running' AS died FROM sources WHERE {_DUE}"
    " ORDER BY last_run_at NULLS FIRST LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " UPDATE sources SET last_run_at = now(),"
    " state = CASE WHEN due.died THEN 'failed' ELSE state END,"
    " last_error = CASE WHEN due.died THEN :died ELSE last_error END,"
    " failures = failures + CASE WHEN due.died THEN 1 ELSE 0 END"
    " FROM due WHERE sources.id = due.id"
    " RETURNING sources.id, sources.tenant, sources.name, due.died"
)


async def due_sources(session: AsyncSession) -> list[tuple[str, str]]:
    """(tenant, name) of the scheduled sources whose next run has come (``_DUE``), never run first."""
    rows = await session.execute(
        text(f"SELECT tenant, name FROM sources WHERE {_DUE} ORDER BY last_run_at NULLS FIRST"),  # noqa: S608 (constants)
        _DUE_PARAMETERS,
    )
    return [(tenant, name) for tenant, name in rows]


@dataclass(frozen=True, slots=True)
class DueSource:
    id: int
    tenant: str
    name: str
    died: bool
    """Its last run was still marked running, long after it should have ended: it died with its process."""


async def take_due(session: AsyncSession) -> DueSource | None:
    """Take a due source (``_DUE``; the one that ran longest ago, never-run first), if any, for this process to run.

    Its last run moves to now in the same statement, so it is no longer due for anyone else: across replicas each
    scheduled run is taken once, even by one that looked a moment before another finished it. A dead run is
    recorded as a failure (``DIED``), so that the run that follows can claim the source.
    """
    row = (await session.execute(text(_TAKE_DUE), {**_DUE_PARAMETERS, "died": DIED})).first()
    if row is None:
        return None
    return DueSource(id=row.id, tenant=row.tenant, name=row.name, died=row.died)


async def known_items(session: AsyncSession, source_id: int) -> dict[str, KnownItem]:
    rows = await session.execute(
        select(SourceItem.key, SourceItem.version, SourceItem.source_uri).where(SourceItem.source_id == source_id)
    )
    return {key: KnownItem(version, uri) for key, version, uri in rows}


async def save_items(session: AsyncSession, source_id: int, items: Sequence[tuple[str, str, str, str]]) -> None:
    """Upsert (key, version, source URI, audience) rows."""
    if not items:
        return
    statement = insert(SourceItem).values(
        [
            {"source_id": source_id, "key": key, "version": version, "source_uri": uri, "audience": audience}
            for key, version, uri, audience in items
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["source_id", "key"],
            set_={
                "version": statement.excluded.version,
                "source_uri": statement.excluded.source_uri,
                "audience": statement.excluded.audience,
            },
        )
    )


async def drop_items(session: AsyncSession, source_id: int, keys: Sequence[str]) -> None:
    if keys:
        await session.execute(delete(SourceItem).where(SourceItem.source_id == source_id, SourceItem.key.in_(keys)))


async def remove_source(session: AsyncSession, source: Source) -> None:
    await session.execute(delete(Source).where(Source.id == source.id))
