"""``KnowledgeBase``: the one object the agent, the CLI and the web app use to reach the knowledge base."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.batching import Batcher
from core.db import bound_engine, keeps_session_settings, session_scope, statement_scope
from core.futures import drop_outcome
from core.metrics import RETRIEVAL_SECONDS
from core.settings import KnowledgeSettings
from knowledge.audience import may_see
from knowledge.collection_cache import CollectionCache
from knowledge.collections import (
    delete_collection,
    ensure_same_model,
    find_collections,
    get_or_create_collection,
    list_collections,
    store_threshold,
    stored_threshold,
)
from knowledge.coverage import unknown_words
from knowledge.documents import SourceDocument
from knowledge.documents_read import Neighbours, neighbour_chunk_contents
from knowledge.embeddings.base import Embedder
from knowledge.errors import KnowledgeError
from knowledge.models import Chunk, Collection
from knowledge.search import SearchHit, SearchMode, SearchParams, needs_transaction, search, validate_query
from knowledge.store import remove_documents
from knowledge.vector_index import build_vector_index, drop_orphan_vector_indexes, drop_vector_index

if TYPE_CHECKING:  # the ingest pipeline brings every loader (pdf, html…); answering a question needs none
    from knowledge.ingest import IngestReport, ProgressCallback
    from knowledge.published import PublishedSite

REINDEX_PAGE = 512
QUERY_BATCH = 16
"""At most this many queries per model run when many arrive at once (16 short ones: ~50 ms on one core)."""


class KnowledgeBase:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        embedder: Embedder,
        settings: KnowledgeSettings,
        collection_cache: CollectionCache | None = None,
        read_sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """``read_sessionmaker``: on a read replica, for the searches (and what they read alongside: the next
        passage, the thresholds, the coverage of a question's words); everything else uses ``sessionmaker``."""
        self.sessionmaker = sessionmaker
        self.reads = read_sessionmaker or sessionmaker
        self.embedder = embedder
        self.settings = settings
        self._queries: Batcher[str, npt.NDArray[np.float32]] = Batcher(self._embed_queries, max_size=QUERY_BATCH)
        self._collections = CollectionCache() if collection_cache is None else collection_cache

    @property
    def engine(self) -> AsyncEngine:
        """The engine its sessions use: for the work that needs a connection of its own (outside any
        transaction: ``DROP INDEX CONCURRENTLY``, ``VACUUM``) or the database's URL."""
        engine = bound_engine(self.sessionmaker)
        if engine is None:
            raise TypeError("this knowledge base's sessionmaker is bound to a connection or to nothing, not an engine")
        return engine

    async def ingest(
        self,
        sources: Sequence[str],
        *,
        tenant: str,
        collection: str,
        prune: bool = False,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        progress: ProgressCallback | None = None,
        site: PublishedSite | None = None,
        forget_site: bool = False,
    ) -> IngestReport:
        """Ingest files, directories and URLs; ``site``: where they are published (kept for later ingests)."""
        from knowledge.ingest import IngestPipeline

        pipeline = IngestPipeline(
            sessionmaker=self.sessionmaker, embedder=self.embedder, settings=self.settings, progress=progress
        )
        try:
            return await pipeline.ingest(
                sources,
                tenant=tenant,
                collection=collection,
                prune=prune,
                include=include,
                exclude=exclude,
                site=site,
                forget_site=forget_site,
            )
        finally:  # it may have made the collection
            self._collections.clear()

    async def add_documents(self, documents: Sequence[SourceDocument], *, tenant: str, collection: str) -> IngestReport:
        """Store documents built in memory (e.g. verified answers) in a collection, created if need be."""
        from knowledge.ingest import IngestPipeline

        pipeline = IngestPipeline(sessionmaker=self.sessionmaker, embedder=self.embedder, settings=self.settings)
        try:
            return await pipeline.ingest_documents(documents, tenant=tenant, collection=collection)
        finally:  # it may have made the collection
            self._collections.clear()

    async def collection_for(self, *, tenant: str, name: str, audience: str) -> None:
        """Make sure the tenant has the collection ``name`` for ``audience`` (``KnowledgeError`` if it exists for
        another audience): documents added to it later are shown only there."""
        async with session_scope(self.sessionmaker) as session:
            await get_or_create_collection(session, tenant=tenant, name=name, embedder=self.embedder, audience=audience)
        self._collections.clear()

    async def audience_in_use(self, *, tenant: str, audience: str) -> bool:
        """Whether any of the tenant's collections is shown only to ``audience`` (a private channel's history)."""
        async with statement_scope(self.sessionmaker) as session:
            found = await session.scalar(
                select(Collection.id).where(Collection.tenant == tenant, Collection.audience == audience).limit(1)
            )
        return found is not None

    async def remove_documents(self, source_uris: Sequence[str], *, tenant: str, collection: str) -> int:
        """Delete documents by source URI; returns how many there were (0 when the collection does not exist)."""
        async with session_scope(self.sessionmaker) as session:
            found = await session.scalar(
                select(Collection).where(Collection.tenant == tenant, Collection.name == collection)
            )
            return 0 if found is None else await remove_documents(session, found, source_uris)

    async def embed_query(self, query: str) -> npt.NDArray[np.float32]:
        """The query's embedding, computed off the event loop (onnxruntime releases the GIL).

        Queries that arrive while the model is embedding others are embedded together in its next run: with the
        local model, 8 short queries at once cost 3.3 ms of CPU each instead of 5.8 ms one by one, and give the
        same vectors.
        """
        return await self._queries.submit(query)

    async def _embed_queries(self, queries: list[str]) -> list[npt.NDArray[np.float32]]:
        return list(await asyncio.to_thread(self.embedder.embed_array, queries))

    async def search(
        self,
        query: str,
        *,
        tenant: str,
        collections: Sequence[str] | None = None,
        mode: SearchMode = "hybrid",
        limit: int = 10,
        params: SearchParams | None = None,
        query_vector: npt.NDArray[np.float32] | None = None,
        audiences: AbstractSet[str] = frozenset(),
    ) -> list[SearchHit]:
        """Search the tenant's collections (all of them when ``collections`` is None) that may be shown where the
        question is asked: those for the whole tenant, and those whose audience is in ``audiences`` (the asking
        channel's, ``knowledge.audience.channel_audience``). A collection hidden from the asker is left out as if
        it did not exist, also when named.

        ``query_vector`` is the query's embedding when the caller already has it; otherwise the query is
        embedded while the collections are looked up.
        """
        query = validate_query(query)
        with RETRIEVAL_SECONDS.labels(mode=mode).time():
            return await self._search(query, tenant, collections, mode, limit, params, query_vector, audiences)

    async def _search(
        self,
        query: str,
        tenant: str,
        collections: Sequence[str] | None,
        mode: SearchMode,
        limit: int,
        params: SearchParams | None,
        query_vector: npt.NDArray[np.float32] | None,
        audiences: AbstractSet[str],
    ) -> list[SearchHit]:
        embedding: asyncio.Future[npt.NDArray[np.float32]] | None = None
        if mode != "keyword" and query_vector is None:
            embedding = asyncio.ensure_future(self.embed_query(query))
        # Reads only: without a SET LOCAL to keep, each statement may commit on its own (no BEGIN, no COMMIT).
        keeps_settings = keeps_session_settings(bound_engine(self.reads))
        transaction = needs_transaction(mode, params or SearchParams(), connection_keeps_settings=keeps_settings)
        scope = session_scope if transaction else statement_scope
        try:
            async with scope(self.reads) as session:
                found = await self._visible(session, tenant, collections, audiences)
                if mode != "keyword" and found:
                    for collection in found:
                        ensure_same_model(collection, self.embedder)
                    if embedding is not None:
                        query_vector = await embedding
                return await search(
                    session,
                    collections=found,
                    query=query,
                    query_vector=query_vector if mode != "keyword" else None,
                    mode=mode,
                    limit=limit,
                    params=params,
                    connection_keeps_settings=keeps_settings,
                )
        finally:
            if embedding is not None:
                # When the embedding was not needed (no collection, a lookup error), its outcome is dropped.
                embedding.add_done_callback(drop_outcome)

    async def _visible(
        self, session: AsyncSession, tenant: str, names: Sequence[str] | None, audiences: AbstractSet[str]
    ) -> list[Collection]:
        """The tenant's collections named (all when None) that may be shown to ``audiences`` (cached lookups)."""
        found = await self._collections.get_or_load(
            tenant, names, lambda: find_collections(session, tenant=tenant, names=names)
        )
        return [c for c in found if may_see(c.audience, audiences)]

    async def neighbour_passages(self, chunk_ids: Sequence[int]) -> dict[int, Neighbours]:
        """The text of the chunks before and after each of ``chunk_ids`` in its document: where a block cut from
        one chunk by the chunker stands. One statement for all of them."""
        if not chunk_ids:
            return {}
        async with statement_scope(self.reads) as session:
            return await neighbour_chunk_contents(session, chunk_ids)

    async def thresholds(
        self,
        *,
        tenant: str,
        collections: Sequence[str] | None = None,
        mode: str,
        audiences: AbstractSet[str] = frozenset(),
    ) -> dict[str, float]:
        """The calibrated abstention thresholds of the tenant's searched collections for ``mode``, by name;
        collections without one are left out. Read from the collections a search just looked up (cached)."""
        async with statement_scope(self.reads) as session:
            found = await self._visible(session, tenant, collections, audiences)
        return {c.name: value for c in found if (value := stored_threshold(c, mode)) is not None}

    async def set_threshold(self, *, tenant: str, collection: str, mode: str, value: float) -> None:
        async with session_scope(self.sessionmaker) as session:
            await store_threshold(session, tenant=tenant, name=collection, mode=mode, value=value)
        self._collections.clear()

    async def unknown_words(
        self,
        words: Sequence[str],
        *,
        tenant: str,
        collections: Sequence[str] | None = None,
        audiences: AbstractSet[str] = frozenset(),
    ) -> list[str]:
        """The ``words`` that none of the tenant's searched collections uses (``knowledge.coverage``)."""
        async with statement_scope(self.reads) as session:
            found = await self._visible(session, tenant, collections, audiences)
            return await unknown_words(session, collection_ids=[c.id for c in found], words=words)

    async def collections(self, *, tenant: str | None = None) -> list[Collection]:
        async with session_scope(self.sessionmaker) as session:
            return await list_collections(session, tenant=tenant)

    async def delete_collection(self, *, tenant: str, name: str) -> None:
        async with session_scope(self.sessionmaker) as session:
            await delete_collection(session, tenant=tenant, name=name)
        self._collections.clear()
        await drop_orphan_vector_indexes(self.engine)

    async def reindex(
        self, *, tenant: str, name: str, progress: Callable[[int, int], None] | None = None
    ) -> Collection:
        """Re-embed every chunk of a collection with the configured embedder, in one transaction.

        Until it commits, searches keep using the old vectors; if it fails, nothing changes.
        """
        report = progress or (lambda done, total: None)
        async with session_scope(self.sessionmaker) as session:
            (collection,) = await find_collections(session, tenant=tenant, names=[name])
            # Lock the collection's row so two reindexes (or an ingest) cannot interleave.
            await session.execute(select(Collection.id).where(Collection.id == collection.id).with_for_update())
            total = collection.chunk_count
            if not await drop_vector_index(session, collection, wait_ms=30_000):
                raise KnowledgeError("the chunks table is busy (a long ingest is writing); run reindex again later")
            await session.execute(
                text("CREATE TEMP TABLE reindexed (id bigint PRIMARY KEY, embedding vector) ON COMMIT DROP")
            )
            raw: Any = (await (await session.connection()).get_raw_connection()).driver_connection
            last_id, done = 0, 0
            while True:
                page = (
                    await session.execute(
                        select(Chunk.id, Chunk.heading_path, Chunk.content)
                        .where(Chunk.collection_id == collection.id, Chunk.id > last_id)
                        .order_by(Chunk.id)
                        .limit(REINDEX_PAGE)
                    )
                ).all()
                if not page:
                    break
                texts = [f"{heading}\n{content}" if heading else content for _, heading, content in page]
                vectors = await asyncio.to_thread(self.embedder.embed_array, texts)
                await raw.copy_records_to_table(
                    "reindexed", records=[(row[0], vector) for row, vector in zip(page, vectors, strict=True)]
                )
                last_id, done = page[-1][0], done + len(page)
                report(done, total)
            await session.execute(
                text("UPDATE chunks SET embedding = r.embedding FROM reindexed r WHERE chunks.id = r.id")
            )
            collection.embedding_model = self.embedder.name
            collection.dims = self.embedder.dims
            await session.flush()
            await build_vector_index(session, collection)
        self._collections.clear()  # the vectors' model and size changed
        return collection
