"""The sync engine: one run of one source, from its connector's listing to stored documents.

An item whose listed version matches the one stored at the last sync is not fetched; one the place reports
unchanged (a 304) is not re-embedded; the rest are written in batches (each document replaced whole, in its own
transaction, with the ingest pipeline's hashing: an unchanged text costs no embedding). Items gone from the
listing, or reported gone, are pruned. The item versions are stored only after their documents are, so a run cut
short leaves nothing half-written: the next run fetches what this one did not record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

from core.db import session_scope
from core.logging import get_logger
from core.metrics import SOURCE_SYNC_ERRORS
from knowledge.errors import KnowledgeError
from knowledge.loaders.errors import LoadError
from knowledge.service import KnowledgeBase
from knowledge.sources.protocol import Connector, ConnectorError, Fetched, Gone, ItemRef, NotModified
from knowledge.sources.store import (
    HEARTBEAT_EVERY,
    KnownItem,
    beat,
    claim,
    collection_of,
    count_chunks,
    drop_items,
    find_source,
    finish,
    known_items,
    remove_source,
    save_items,
)

log = get_logger(__name__)

BATCH_DOCUMENTS = 25
"""Documents written at a time: big enough to batch the embedding, small enough that a failure loses little."""

SyncProgress = Callable[[str, int], None]
"""Called with each item's URL as it is dealt with, and how many have been so far."""


class SourceBusy(KnowledgeError):
    """Another run of the source is under way (here or in another process)."""


@dataclass
class SyncReport:
    source: str
    listed: int = 0
    unchanged: int = 0
    """Listed with the version stored at the last sync: not fetched at all."""
    not_modified: int = 0
    """Fetched conditionally and reported unchanged (HTTP 304): no body, no embedding."""
    fetched: int = 0
    written: int = 0
    """Documents added or replaced (a fetched body with the same text as before is not)."""
    chunks_written: int = 0
    pruned: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    """Why the run stopped, when it did; also stored as the source's last error."""


def no_sync_progress(url: str, done: int) -> None:
    """For callers that show none."""


def _for_people(error: BaseException) -> str:
    """What the source's status shows: our own errors say what went wrong; anything else only its type (its
    message may quote a URL with a token in it)."""
    if isinstance(error, ConnectorError | KnowledgeError | LoadError):
        return str(error)[:500]
    if isinstance(error, asyncio.CancelledError | KeyboardInterrupt):
        return "cancelled before the run was over"
    return f"unexpected {type(error).__name__} (see the logs)"


async def sync_source(
    knowledge: KnowledgeBase,
    *,
    tenant: str,
    name: str,
    connector: Connector,
    progress: SyncProgress = no_sync_progress,
) -> SyncReport:
    """Run the source ``name`` once; raises ``SourceBusy`` when a run is already under way. A failure during the
    run is recorded on the source and in the report, not raised."""
    source_id, target, known = await _claim(knowledge, tenant=tenant, name=name, busy="is already syncing")
    run = _Run(knowledge, tenant=tenant, collection=target, source_id=source_id, known=known)
    run.report = SyncReport(source=name)
    heartbeat = asyncio.create_task(_beat(knowledge, source_id), name=f"source-heartbeat-{source_id}")
    try:
        return await _go_and_record(run, connector, progress, name=name)
    finally:
        heartbeat.cancel()
        with suppress(asyncio.CancelledError):
            await heartbeat


async def _beat(knowledge: KnowledgeBase, source_id: int) -> None:
    """Note every ``HEARTBEAT_EVERY`` that the run is alive, for as long as it runs: a run that stops beating died
    with its process, and another may take the source over (``store.STALE_RUN``)."""
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY.total_seconds())
        try:
            async with session_scope(knowledge.sessionmaker) as session:
                await beat(session, source_id)
        except Exception as error:  # a database blip: the next beat will do, the run goes on
            log.warning("source heartbeat not written", source_id=source_id, exc_info=error)


async def _go_and_record(run: _Run, connector: Connector, progress: SyncProgress, *, name: str) -> SyncReport:
    """Run the sync and record its outcome on the source."""
    knowledge, tenant, source_id, report = run.knowledge, run.tenant, run.source_id, run.report
    try:
        await run.go(connector, progress)
    except BaseException as error:  # recorded whatever it is; cancellation and the unexpected still propagate
        report.error = _for_people(error)
        SOURCE_SYNC_ERRORS.labels(kind=connector.kind).inc()
        expected = isinstance(error, ConnectorError | KnowledgeError | LoadError)
        if expected:  # the place misbehaved: the reason says it all
            log.warning("source sync failed", source=name, tenant=tenant, reason=report.error)
        else:
            log.error("source sync failed", source=name, tenant=tenant, exc_info=error)
        async with session_scope(knowledge.sessionmaker) as session:
            await finish(session, source_id, error=report.error)
        if not expected:
            raise
        return report
    async with session_scope(knowledge.sessionmaker) as session:
        await count_chunks(session, source_id)
        await finish(session, source_id, error=None)
    log.info(
        "source synced",
        source=name,
        tenant=tenant,
        listed=report.listed,
        unchanged=report.unchanged,
        not_modified=report.not_modified,
        fetched=report.fetched,
        written=report.written,
        chunks=report.chunks_written,
        pruned=report.pruned,
        failed=len(report.failed),
    )
    return report


@dataclass(frozen=True, slots=True)
class _Target:
    """The collection a source writes to."""

    name: str
    audience: str


async def _claim(
    knowledge: KnowledgeBase, *, tenant: str, name: str, busy: str
) -> tuple[int, _Target, dict[str, KnownItem]]:
    """Claim the source for this process (``SourceBusy`` saying it ``busy`` otherwise): its id, its collection
    and the items the last sync stored."""
    async with session_scope(knowledge.sessionmaker) as session:
        source = await find_source(session, tenant=tenant, name=name)
        if source is None:
            raise KnowledgeError(f"tenant {tenant!r} has no source named {name!r}")
        if not await claim(session, source.id):
            raise SourceBusy(f"source {name!r} {busy}")
        collection = await collection_of(session, source)
        target = _Target(name=collection.name, audience=collection.audience)
        return source.id, target, await known_items(session, source.id)


class _Run:
    def __init__(
        self, knowledge: KnowledgeBase, *, tenant: str, collection: _Target, source_id: int, known: dict[str, KnownItem]
    ) -> None:
        self.knowledge = knowledge
        self.tenant = tenant
        self.collection = collection.name
        self.audience = collection.audience
        self.source_id = source_id
        self.known = known
        self.report = SyncReport(source="")

    async def go(self, connector: Connector, progress: SyncProgress) -> None:
        seen: set[str] = set()
        batch: list[tuple[ItemRef, Fetched]] = []
        async for item in connector.items():
            if item.key in seen:
                continue
            seen.add(item.key)
            if item.audience != self.audience:
                # A channel made private since it was added, say: its threads must not land where others search.
                raise ConnectorError(
                    f"{item.url} may be shown only to {item.audience!r}, but this source's collection is shown to "
                    f"{self.audience!r}; add the source again with a collection of its own"
                )
            self.report.listed += 1
            progress(item.url, self.report.listed)
            previous = self.known.get(item.key)
            if previous is not None and item.version is not None and previous.version == item.version:
                self.report.unchanged += 1
                continue
            outcome = await connector.fetch(item, previous.version if previous is not None else None)
            if isinstance(outcome, NotModified):
                self.report.not_modified += 1
            elif isinstance(outcome, Gone):
                seen.discard(item.key)  # pruned with the ones no longer listed
            else:
                self.report.fetched += 1
                batch.append((item, outcome))
                if len(batch) >= BATCH_DOCUMENTS:
                    await self._write(batch)
                    batch = []
        if batch:
            await self._write(batch)
        await self._prune([key for key in self.known if key not in seen])

    async def _write(self, batch: list[tuple[ItemRef, Fetched]]) -> None:
        written = await self.knowledge.add_documents(
            [fetched.document for _, fetched in batch], tenant=self.tenant, collection=self.collection
        )
        self.report.written += len(written.added) + len(written.updated)
        self.report.chunks_written += written.chunks_written
        self.report.failed.extend(written.failed)
        failed = {uri for uri, _ in written.failed}
        stored = [(item, fetched) for item, fetched in batch if fetched.document.source_uri not in failed]
        # An item now read at another address (a redirect that moved) leaves its old document behind otherwise.
        moved = [
            self.known[item.key].source_uri
            for item, fetched in stored
            if item.key in self.known and self.known[item.key].source_uri != fetched.document.source_uri
        ]
        if moved:
            await self.knowledge.remove_documents(moved, tenant=self.tenant, collection=self.collection)
        async with session_scope(self.knowledge.sessionmaker) as session:
            await save_items(
                session,
                self.source_id,
                [(item.key, fetched.version, fetched.document.source_uri, item.audience) for item, fetched in stored],
            )

    async def _prune(self, keys: list[str]) -> None:
        if not keys:
            return
        uris = [self.known[key].source_uri for key in keys]
        self.report.pruned = await self.knowledge.remove_documents(uris, tenant=self.tenant, collection=self.collection)
        async with session_scope(self.knowledge.sessionmaker) as session:
            await drop_items(session, self.source_id, keys)


async def delete_source(knowledge: KnowledgeBase, *, tenant: str, name: str) -> int:
    """Remove the source and the documents it brought; returns how many documents went."""
    _, target, known = await _claim(
        knowledge, tenant=tenant, name=name, busy="is syncing; remove it when the run is over"
    )
    uris = [item.source_uri for item in known.values()]
    removed = await knowledge.remove_documents(uris, tenant=tenant, collection=target.name)
    async with session_scope(knowledge.sessionmaker) as session:
        source = await find_source(session, tenant=tenant, name=name)
        if source is not None:
            await remove_source(session, source)
    return removed
