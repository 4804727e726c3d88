"""Sources as the command line, the worker and the dashboard use them: add, list, pause, sync, remove."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.db import session_scope
from knowledge.collections import get_or_create_collection
from knowledge.errors import KnowledgeError
from knowledge.service import KnowledgeBase
from knowledge.sources.connectors import ConnectorKind, ConnectorKinds, RunContext
from knowledge.sources.models import Source
from knowledge.sources.secrets import shown_settings
from knowledge.sources.store import (
    add_source,
    collection_of,
    due_sources,
    find_source,
    known_items,
    list_sources_in_collections,
    set_paused,
)
from knowledge.sources.sync import SyncProgress, SyncReport, delete_source, no_sync_progress, sync_source


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A source as listings show it."""

    tenant: str
    name: str
    kind: str
    collection: str
    settings: dict[str, Any]
    every_seconds: int | None
    paused: bool
    state: str
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    failures: int
    items: int
    chunks: int

    @property
    def next_run_at(self) -> datetime | None:
        """When the worker syncs it next; None when it is paused or synced only on demand."""
        if self.paused or self.every_seconds is None:
            return None
        if self.last_run_at is None:
            return datetime.now(UTC)
        return self.last_run_at + timedelta(seconds=self.every_seconds)


class Sources:
    def __init__(self, knowledge: KnowledgeBase, *, extra_kinds: Iterable[ConnectorKind] = ()) -> None:
        """``extra_kinds``: kinds beyond the built-in ones (the chat platforms' history connectors)."""
        self.knowledge = knowledge
        self.kinds = ConnectorKinds(extra_kinds)

    async def add(
        self,
        *,
        tenant: str,
        name: str,
        kind: str,
        collection: str,
        settings: dict[str, Any],
        every_seconds: int | None = None,
        audience: str | None = None,
    ) -> SourceStatus:
        """Store a new source (its settings checked first) writing to ``collection``, created for ``audience`` if
        missing (by default the whole tenant); an existing collection must already have that audience."""
        self.kinds.validate(kind, settings)  # before anything is stored
        async with session_scope(self.knowledge.sessionmaker) as session:
            target, _ = await get_or_create_collection(
                session, tenant=tenant, name=collection, embedder=self.knowledge.embedder, audience=audience
            )
            source = await add_source(
                session,
                tenant=tenant,
                name=name,
                collection=target,
                kind=kind,
                settings=settings,
                every_seconds=every_seconds,
            )
            return _status(source, target.name)

    async def statuses(self, *, tenant: str | None = None) -> list[SourceStatus]:
        async with session_scope(self.knowledge.sessionmaker) as session:
            return [_status(s, name) for s, name in await list_sources_in_collections(session, tenant=tenant)]

    async def get(self, *, tenant: str, name: str) -> SourceStatus:
        async with session_scope(self.knowledge.sessionmaker) as session:
            source = await _find(session, tenant=tenant, name=name)
            return _status(source, (await collection_of(session, source)).name)

    async def pause(self, *, tenant: str, name: str, paused: bool = True) -> None:
        async with session_scope(self.knowledge.sessionmaker) as session:
            await set_paused(session, await _find(session, tenant=tenant, name=name), paused=paused)

    async def sync(self, *, tenant: str, name: str, progress: SyncProgress = no_sync_progress) -> SyncReport:
        async with session_scope(self.knowledge.sessionmaker) as session:
            source = await _find(session, tenant=tenant, name=name)
            kind, settings = source.kind, dict(source.settings)
            known = {key: item.version for key, item in (await known_items(session, source.id)).items()}
        connector = self.kinds.connector(
            kind,
            settings,
            RunContext(
                known_versions=known,
                max_bytes=self.knowledge.settings.max_file_bytes,
                secret_key=self.knowledge.settings.sources_secret_key,
            ),
        )
        try:
            return await sync_source(self.knowledge, tenant=tenant, name=name, connector=connector, progress=progress)
        finally:
            await connector.aclose()

    async def due(self) -> list[tuple[str, str]]:
        """(tenant, name) of every source whose scheduled run has come."""
        async with session_scope(self.knowledge.sessionmaker) as session:
            return await due_sources(session)

    async def remove(self, *, tenant: str, name: str) -> int:
        """Remove the source and its documents; returns how many documents went."""
        return await delete_source(self.knowledge, tenant=tenant, name=name)


async def _find(session: Any, *, tenant: str, name: str) -> Source:
    source = await find_source(session, tenant=tenant, name=name)
    if source is None:
        raise KnowledgeError(f"tenant {tenant!r} has no source named {name!r}")
    return source


def _status(source: Source, collection: str) -> SourceStatus:
    return SourceStatus(
        tenant=source.tenant,
        name=source.name,
        kind=source.kind,
        collection=collection,
        settings=shown_settings(source.settings),
        every_seconds=source.every_seconds,
        paused=source.paused,
        state=source.state,
        last_run_at=source.last_run_at,
        last_success_at=source.last_success_at,
        last_error=source.last_error,
        failures=source.failures,
        items=source.items,
        chunks=source.chunks,
    )
