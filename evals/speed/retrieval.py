"""``bench retrieval``: query latency of each search mode over N synthetic chunks, and what loading them cost."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import session_scope
from evals.speed.pgvector_alternative import (
    KnownVectors,
    StoredChunk,
    add_chunks,
    build_hnsw_index,
    pgvector_store,
    time_searches,
)
from evals.speed.synthetic import SyntheticCorpus
from evals.toolkit.database import engine_of
from evals.toolkit.progress import Progress, no_progress
from evals.toolkit.stats import latency_percentiles
from knowledge.bulk_load import (
    add_numbered_documents,
    chunks_table_mb,
    collection_named,
    create_empty_collection,
    document_ids,
    drop_collection,
    reloaded,
)
from knowledge.models import Collection
from knowledge.search import SEARCH_MODES, SearchParams, search
from knowledge.store import copy_chunks
from knowledge.term_stats import update_term_stats
from knowledge.vector_index import build_vector_index, has_vector_index, vacuum_search_tables

BENCH_TENANT = "bench"
COPY_BATCH = 20_000
DOCUMENT_PREFIX = "synthetic/doc-"
WARMUP_QUERIES = 20
SEARCH_LIMIT = 10
"""As many results as ``knowledge.search.search`` returns by default."""


@dataclass
class PgVectorFigures:
    """``PGVector.similarity_search`` (k as ours) as it ships (no vector index: an exact scan), then with the HNSW
    index a team would add, and how many times slower each is than our ``vector`` mode at the median."""

    load_seconds: float
    latency_ms: dict[str, float]
    hnsw_index_seconds: float
    hnsw_latency_ms: dict[str, float]
    ratio_p50: float
    hnsw_ratio_p50: float


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
    pgvector: PgVectorFigures | None = None
    """LangChain's PGVector on the same chunks and query vectors (``--no-pgvector`` skips it)."""
    keyword_overlap_with_exact_at_10: float | None = None
    """Share of exact BM25's top 10 that the bounded postings read (``postings_per_term``) also returns."""
    params: dict[str, Any] = field(default_factory=dict)


async def _load(
    sessionmaker: async_sessionmaker[AsyncSession], collection: Collection, corpus: SyntheticCorpus, progress: Progress
) -> tuple[float, float]:
    """COPY the corpus in; returns (seconds spent only inside COPY, total seconds incl. generating text)."""
    async with session_scope(sessionmaker) as session:
        await add_numbered_documents(session, collection, count=corpus.documents, prefix=DOCUMENT_PREFIX)
        stored = await document_ids(session, collection)
    ids_by_number = {int(uri.removeprefix(DOCUMENT_PREFIX)): doc_id for uri, doc_id in stored.items()}
    copy_seconds, started = 0.0, time.perf_counter()
    done = 0
    for batch in corpus.batches(COPY_BATCH):
        records = [
            (ids_by_number[c.document], collection.id, i, c.heading, c.content, len(c.content.split()), c.vector, "{}")
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
        collection = await collection_named(session, tenant=BENCH_TENANT, name=name)
        reuse = (
            collection is not None
            and collection.chunk_count == corpus.size
            and await has_vector_index(session, collection)
        )
        if collection is not None and not reuse:
            await drop_collection(session, collection)  # an interrupted earlier load
            collection = None
        if collection is None:
            collection = await create_empty_collection(
                session, tenant=BENCH_TENANT, name=name, embedding_model="synthetic", dims=corpus.dims
            )
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
        ids = list((await document_ids(session, collection)).values())
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
        await drop_collection(session, collection)


async def bench_retrieval(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    chunks: int,
    queries: int = 200,
    params: SearchParams | None = None,
    keep: bool = False,
    index_memory_mb: int = 2048,
    pgvector_url: URL | None = None,
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
        await vacuum_search_tables(engine_of(sessionmaker))
        async with session_scope(sessionmaker) as session:
            collection = await reloaded(session, collection)
            result.table_size_mb = await chunks_table_mb(session)
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
                                limit=SEARCH_LIMIT,
                                params=params,
                            )
                        if timed and index >= WARMUP_QUERIES:
                            samples.append((time.perf_counter() - tick) * 1000)
                        stage = f"{mode} queries" if timed else f"warming the caches ({mode})"
                        progress(stage, index + 1, len(workload))
                if timed:
                    result.latency_ms[mode] = latency_percentiles(samples, digits=2)
        if pgvector_url is not None:
            result.pgvector = await asyncio.to_thread(
                _time_pgvector, pgvector_url, chunks, workload, ours_p50=result.latency_ms["vector"]["p50"]
            )
        if params.postings_per_term is not None:
            result.keyword_overlap_with_exact_at_10 = await _overlap_with_exact(
                sessionmaker, collection, workload[WARMUP_QUERIES:], params, progress
            )
        return result
    finally:
        if not keep:
            await drop_synthetic_collection(sessionmaker, collection)


def _time_pgvector(
    url: URL, chunks: int, workload: list[tuple[str, npt.NDArray[np.float32]]], *, ours_p50: float
) -> PgVectorFigures:
    """The same chunks (a fresh corpus of the same seed yields them again) and query vectors, in PGVector."""
    corpus = SyntheticCorpus(chunks=chunks)
    stored = (
        StoredChunk(c.content, c.vector, {"source": f"{DOCUMENT_PREFIX}{c.document}", "heading": c.heading})
        for batch in corpus.batches(COPY_BATCH)
        for c in batch
    )
    queries = [query for query, _ in workload]
    with pgvector_store(url, KnownVectors(corpus.dims, dict(workload))) as store:
        _, load_seconds = add_chunks(store, stored)
        exact = latency_percentiles(time_searches(store, queries, k=SEARCH_LIMIT, warmup=WARMUP_QUERIES), digits=2)
        index_seconds = build_hnsw_index(url)
        hnsw = latency_percentiles(time_searches(store, queries, k=SEARCH_LIMIT, warmup=WARMUP_QUERIES), digits=2)
    return PgVectorFigures(
        load_seconds=round(load_seconds, 1),
        latency_ms=exact,
        hnsw_index_seconds=round(index_seconds, 1),
        hnsw_latency_ms=hnsw,
        ratio_p50=round(exact["p50"] / ours_p50, 1) if ours_p50 else 0.0,
        hnsw_ratio_p50=round(hnsw["p50"] / ours_p50, 1) if ours_p50 else 0.0,
    )
