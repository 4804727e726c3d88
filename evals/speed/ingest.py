"""``bench ingest``: the database write path (embedding excluded), ours against langchain-postgres's
``PGVector.add_embeddings`` on the same chunks and vectors in the same run, then a real end-to-end ingest.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import session_scope
from core.settings import KnowledgeSettings
from evals.speed.pgvector_alternative import KnownVectors, StoredChunk, add_chunks, pgvector_store
from evals.toolkit.progress import Progress, no_progress
from knowledge.collections import delete_collection, get_or_create_collection
from knowledge.documents import ChunkDraft, SourceDocument
from knowledge.embeddings.base import Embedder
from knowledge.ingest import chunk_for_embedder
from knowledge.models import TSV_EXPRESSION, Collection
from knowledge.store import PreparedDocument, write_documents
from knowledge.vector_index import build_vector_index

BENCH_TENANT = "bench"
WRITE_BATCH_DOCUMENTS = 500


@dataclass
class IngestBenchmark:
    documents: int
    chunks: int
    chunking_seconds: float = 0.0
    threadwise_write_seconds: float = 0.0
    threadwise_chunks_per_second: float = 0.0
    threadwise_index_build_seconds: float = 0.0
    pgvector_write_seconds: float = 0.0
    pgvector_chunks_per_second: float = 0.0
    speedup: float = 0.0
    text_search_parse_seconds: float = 0.0
    text_search_parse_chunks_per_second: float = 0.0
    """PostgreSQL computing the chunks' tsvector alone: a ceiling for any write path that stores it."""
    end_to_end_seconds: float = 0.0
    end_to_end_documents_per_second: float = 0.0
    notes: list[str] = field(default_factory=list)


async def _temporary_collection(
    sessionmaker: async_sessionmaker[AsyncSession], embedder: Embedder, label: str
) -> Collection:
    async with session_scope(sessionmaker) as session:
        collection, _ = await get_or_create_collection(
            session, tenant=BENCH_TENANT, name=f"{label}-{uuid.uuid4().hex[:8]}", embedder=embedder
        )
    return collection


async def _drop(sessionmaker: async_sessionmaker[AsyncSession], collection: Collection) -> None:
    async with session_scope(sessionmaker) as session:
        await delete_collection(session, tenant=BENCH_TENANT, name=collection.name)


async def _write_all(
    sessionmaker: async_sessionmaker[AsyncSession], collection: Collection, prepared: list[PreparedDocument]
) -> int:
    written = 0
    for start in range(0, len(prepared), WRITE_BATCH_DOCUMENTS):
        async with session_scope(sessionmaker) as session:
            written += await write_documents(session, collection, prepared[start : start + WRITE_BATCH_DOCUMENTS])
    return written


def _pgvector_write(url: URL, prepared: list[PreparedDocument], dims: int) -> float:
    """Seconds for PGVector.add_embeddings of every chunk, in batches, on its own tables."""
    chunks = (
        StoredChunk(
            chunk.content,
            vector,
            {"source": document.source.source_uri, "title": chunk.title, "ordinal": chunk.ordinal},
        )
        for document in prepared
        for chunk, vector in zip(document.chunks, document.vectors, strict=True)
    )
    with pgvector_store(url, KnownVectors(dims)) as store:
        _, seconds = add_chunks(store, chunks)
    return seconds


async def _text_search_parse_seconds(
    sessionmaker: async_sessionmaker[AsyncSession], prepared: list[PreparedDocument]
) -> float:
    """Seconds PostgreSQL spends on the chunks' ``tsv`` expression and nothing else (no table, no index)."""
    records = [(chunk.title, chunk.content) for document in prepared for chunk in document.chunks]
    async with session_scope(sessionmaker) as session:
        await session.execute(
            text("CREATE TEMPORARY TABLE parse_bench (heading_path text, content text) ON COMMIT DROP")
        )
        raw: Any = (await (await session.connection()).get_raw_connection()).driver_connection
        await raw.copy_records_to_table("parse_bench", records=records)
        tick = time.perf_counter()
        await session.execute(text(f"SELECT count({TSV_EXPRESSION}) FROM parse_bench"))  # noqa: S608 — a constant
        return time.perf_counter() - tick


async def bench_ingest(
    sessionmaker: async_sessionmaker[AsyncSession],
    url: URL,
    embedder: Embedder,
    settings: KnowledgeSettings,
    documents: list[SourceDocument],
    *,
    end_to_end: bool = True,
    progress: Progress = no_progress,
) -> IngestBenchmark:
    progress("chunking", 0, 1)
    tick = time.perf_counter()
    drafts = [chunk_for_embedder(document, embedder, settings) for document in documents]
    chunking_seconds = time.perf_counter() - tick
    # Embedding is not part of the write path: random unit vectors of the embedder's size stand in.
    rng = np.random.default_rng(3)
    prepared = []
    for document, chunks in zip(documents, drafts, strict=True):
        vectors = rng.standard_normal((len(chunks), embedder.dims)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        prepared.append(PreparedDocument(document, "bench", chunks, vectors))
    total_chunks = sum(len(chunks) for chunks in drafts)
    result = IngestBenchmark(documents=len(documents), chunks=total_chunks, chunking_seconds=round(chunking_seconds, 2))

    progress("Threadwise write path (COPY)", 0, 1)
    ours = await _temporary_collection(sessionmaker, embedder, "write-path")
    try:
        tick = time.perf_counter()
        await _write_all(sessionmaker, ours, prepared)
        result.threadwise_write_seconds = round(time.perf_counter() - tick, 3)
        tick = time.perf_counter()
        async with session_scope(sessionmaker) as session:
            await build_vector_index(session, ours)
        result.threadwise_index_build_seconds = round(time.perf_counter() - tick, 2)
    finally:
        await _drop(sessionmaker, ours)
    result.threadwise_chunks_per_second = round(total_chunks / result.threadwise_write_seconds)

    progress("langchain-postgres PGVector.add_embeddings", 0, 1)
    seconds = await asyncio.to_thread(_pgvector_write, url, prepared, embedder.dims)
    result.pgvector_write_seconds = round(seconds, 3)
    result.pgvector_chunks_per_second = round(total_chunks / seconds)
    result.speedup = round(result.threadwise_chunks_per_second / result.pgvector_chunks_per_second, 1)

    progress("PostgreSQL text-search parsing alone", 0, 1)
    seconds = await _text_search_parse_seconds(sessionmaker, prepared)
    result.text_search_parse_seconds = round(seconds, 3)
    result.text_search_parse_chunks_per_second = round(total_chunks / seconds)

    if end_to_end:
        progress("end to end: chunk, embed, write, index", 0, len(documents))
        collection = await _temporary_collection(sessionmaker, embedder, "end-to-end")
        try:
            tick = time.perf_counter()
            for start in range(0, len(documents), WRITE_BATCH_DOCUMENTS):
                batch = list(zip(documents, drafts, strict=True))[start : start + WRITE_BATCH_DOCUMENTS]

                def embed(batch: list[tuple[SourceDocument, list[ChunkDraft]]] = batch) -> list[PreparedDocument]:
                    return [
                        PreparedDocument(doc, "e2e", chunks, embedder.embed_array([c.embedding_text() for c in chunks]))
                        for doc, chunks in batch
                    ]

                ready = await asyncio.to_thread(embed)
                async with session_scope(sessionmaker) as session:
                    await write_documents(session, collection, ready)
                progress("end to end: chunk, embed, write, index", start + len(batch), len(documents))
            async with session_scope(sessionmaker) as session:
                await build_vector_index(session, collection)
            # Chunking was timed above on the same documents; add it so the figure covers the whole path.
            result.end_to_end_seconds = round(time.perf_counter() - tick + chunking_seconds, 1)
            result.end_to_end_documents_per_second = round(len(documents) / result.end_to_end_seconds, 1)
        finally:
            await _drop(sessionmaker, collection)
    return result
