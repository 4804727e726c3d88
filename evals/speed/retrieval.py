"""``bench retrieval``: query latency of each search mode over N synthetic chunks, and what loading them cost."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import session_scope
from evals.speed.synthetic import SyntheticCorpus
from evals.toolkit.progress import Progress, no_progress
from evals.toolkit.stats import latency_percentiles
from knowledge.models import Collection, Document
from knowledge.search import SEARCH_MODES, SearchParams, search
from knowledge.store import copy_chunks
from knowledge.term_stats import update_term_stats
from knowledge.vector_index import build_vector_index, drop_vector_index, has_vector_index, vacuum_search_tables

BENCH_TENANT = "bench"
COPY_BATCH = 20_000
WARMUP_QUERIES = 20


@dataclass
class RetrievalBenchmark:
    chunks: int
    dims: int
    reused: bool
    generate_and_copy_seconds: float = 0.0
    copy_rows_per_second: float = 0.0
    term_stats_seconds: float = 0.0
    index_build_seconds: float = 0.0
    table_size_mb: float = 0.0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    keyword_overlap_with_exact_at_10: float | None = None
    """Share of exact BM25's top 10 that the bounded postings read (``postings_per_term``) also returns."""
    params: dict[str, Any] = field(default_factory=dict)


async def _load(
    sessionmaker: async_sessionmaker[AsyncSession], collection: Collection, corpus: SyntheticCorpus, progress: Progress
) -> tuple[float, float]:
    """COPY the corpus in; returns (seconds spent only inside COPY, total seconds incl. generating text)."""
    async with session_scope(sessionmaker) as session:
        await session.execute(
            text(
                "INSERT INTO documents (collection_id, source_uri, title, content_hash) "
                "SELECT :cid, 'synthetic/doc-' || g, 'Synthetic document ' || g, '' "
                "FROM generate_series(0, :n - 1) AS g"
            ),
            {"cid": collection.id, "n": corpus.documents},
        )
        rows = await session.execute(
            select(Document.id, Document.source_uri).where(Document.collection_id == collection.id)
        )
        document_ids = {int(uri.rsplit("-", 1)[1]): doc_id for doc_id, uri in rows}
    copy_seconds, started = 0.0, time.perf_counter()
    done = 0
    for batch in corpus.batches(COPY_BATCH):
        records = [
            (document_ids[c.document], collection.id, i, c.heading, c.content, len(c.content.split()), c.vector, "{}")
            for i, c in enumerate(batch, start=done)
        ]
        tick = time.perf_counter()
        async with session_scope(sessionmaker) as session:
            await copy_chunks(session, records)
        copy_seconds += time.perf_counter() - tick
        done += len(batch)
        progress("generating and copying chunks", done, corpus.size)
    return copy_seconds, time.perf_counter() - started


async def _overlap_with_exact(
    sessionmaker: async_sessionmaker[AsyncSession],
    collection: Collection,
    workload: list[tuple[str, npt.NDArray[np.float32]]],
    params: SearchParams,
    progress: Progress,
) -> float:
    """How much of exact BM25's top 10 survives reading only each term's strongest postings."""
    exact = replace(params, postings_per_term=None)
    shares: list[float] = []
    async with sessionmaker() as session:
        for index, (query, _) in enumerate(workload):
            found = []
            for variant in (params, exact):
                async with session.begin():
                    hits = await search(
                        session,
                        collections=[collection],
                        query=query,
                        query_vector=None,
                        mode="keyword",
                        params=variant,
                    )
                found.append({hit.chunk_id for hit in hits})
            if found[1]:
                shares.append(len(found[0] & found[1]) / len(found[1]))
            progress("keyword: bounded vs exact postings", index + 1, len(workload))
    return round(sum(shares) / max(len(shares), 1), 4)


@dataclass
class SyntheticLoad:
    """What loading a synthetic collection cost (all zero when a kept one was reused)."""

    reused: bool
    generate_and_copy_seconds: float = 0.0
    copy_rows_per_second: float = 0.0
    term_stats_seconds: float = 0.0
    index_build_seconds: float = 0.0


async def open_synthetic_collection(
    sessionmaker: async_sessionmaker[AsyncSession], corpus: SyntheticCorpus
) -> tuple[Collection, bool]:
    """The ``bench/synthetic-N`` collection and whether it is complete (a kept one, reusable as is); an
    incomplete one (an interrupted earlier load) is replaced by an empty one."""
    name = f"synthetic-{corpus.size}"
    async with session_scope(sessionmaker) as session:
        collection = await session.scalar(
            select(Collection).where(Collection.tenant == BENCH_TENANT, Collection.name == name)
        )
        reuse = (
            collection is not None
            and collection.chunk_count == corpus.size
            and await has_vector_index(session, collection)
        )
        if collection is not None and not reuse:
            await session.delete(collection)  # an interrupted earlier load
            await session.flush()
            collection = None
        if collection is None:
            collection = Collection(tenant=BENCH_TENANT, name=name, embedding_model="synthetic", dims=corpus.dims)
            session.add(collection)
            await session.flush()
    return collection, reuse


async def load_synthetic_collection(
    sessionmaker: async_sessionmaker[AsyncSession],
    collection: Collection,
    corpus: SyntheticCorpus,
    *,
    index_memory_mb: int = 2048,
    progress: Progress = no_progress,
) -> SyntheticLoad:
    """COPY the corpus into the (empty) collection, then its term statistics and HNSW index."""
    load = SyntheticLoad(reused=False)
    copy_seconds, total_seconds = await _load(sessionmaker, collection, corpus, progress)
    load.generate_and_copy_seconds = round(total_seconds, 1)
    load.copy_rows_per_second = round(corpus.size / copy_seconds)
    progress("term statistics", 0, 1)
    tick = time.perf_counter()
    async with session_scope(sessionmaker) as session:
        ids = list(await session.scalars(select(Document.id).where(Document.collection_id == collection.id)))
        await update_term_stats(session, collection_id=collection.id, document_ids=ids, change="add")
    load.term_stats_seconds = round(time.perf_counter() - tick, 1)
    progress("building the HNSW index", 0, 1)
    tick = time.perf_counter()
    async with session_scope(sessionmaker) as session:
        await build_vector_index(session, collection, memory_mb=index_memory_mb)
    load.index_build_seconds = round(time.perf_counter() - tick, 1)
    return load


async def drop_synthetic_collection(sessionmaker: async_sessionmaker[AsyncSession], collection: Collection) -> None:
    async with session_scope(sessionmaker) as session:
        doomed = await session.get(Collection, collection.id)
        if doomed is not None:
            await drop_vector_index(session, doomed)
            await session.delete(doomed)


async def bench_retrieval(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    chunks: int,
    queries: int = 200,
    params: SearchParams | None = None,
    keep: bool = False,
    index_memory_mb: int = 2048,
    progress: Progress = no_progress,
) -> RetrievalBenchmark:
    """Build (or reuse a complete, kept) synthetic collection of ``chunks`` chunks and time queries on it."""
    params = params or SearchParams()
    corpus = SyntheticCorpus(chunks=chunks)
    collection, reuse = await open_synthetic_collection(sessionmaker, corpus)
    result = RetrievalBenchmark(chunks=chunks, dims=corpus.dims, reused=reuse, params=asdict(params))
    try:
        if not reuse:
            load = await load_synthetic_collection(
                sessionmaker, collection, corpus, index_memory_mb=index_memory_mb, progress=progress
            )
            result.generate_and_copy_seconds = load.generate_and_copy_seconds
            result.copy_rows_per_second = load.copy_rows_per_second
            result.term_stats_seconds = load.term_stats_seconds
            result.index_build_seconds = load.index_build_seconds
        await vacuum_search_tables(sessionmaker.kw["bind"])
        async with session_scope(sessionmaker) as session:
            refreshed = await session.get(Collection, collection.id)
            collection = refreshed or collection
            result.table_size_mb = round(
                float(await session.scalar(text("SELECT pg_total_relation_size('chunks')")) or 0) / 1e6, 1
            )
        workload = corpus.queries(queries + WARMUP_QUERIES)
        # One untimed pass of every mode first: a running service has its indexes in memory, and the first
        # mode timed should not pay for reading them from disk (on 1M chunks: several GB after the VACUUM).
        for timed in (False, True):
            for mode in SEARCH_MODES:
                samples: list[float] = []
                async with sessionmaker() as session:
                    for index, (query, vector) in enumerate(workload):
                        tick = time.perf_counter()
                        async with session.begin():
                            await search(
                                session,
                                collections=[collection],
                                query=query,
                                query_vector=vector,
                                mode=mode,
                                params=params,
                            )
                        if timed and index >= WARMUP_QUERIES:
                            samples.append((time.perf_counter() - tick) * 1000)
                        stage = f"{mode} queries" if timed else f"warming the caches ({mode})"
                        progress(stage, index + 1, len(workload))
                if timed:
                    result.latency_ms[mode] = latency_percentiles(samples, digits=2)
        if params.postings_per_term is not None:
            result.keyword_overlap_with_exact_at_10 = await _overlap_with_exact(
                sessionmaker, collection, workload[WARMUP_QUERIES:], params, progress
            )
        return result
    finally:
        if not keep:
            await drop_synthetic_collection(sessionmaker, collection)
