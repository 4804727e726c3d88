"""``bench ingest``: the database write path (embedding excluded), ours against langchain-postgres's
``PGVector.add_embeddings`` on the same chunks and vectors in the same run; then real end-to-end ingests, each
beside the bare embedder timed on the very texts, in the very calls, that the ingest made it embed.

The ratio of the two says what the pipeline costs beyond embedding: loading, chunking, writing, indexing, and
whatever of that does not overlap with the embedder's work.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import session_scope
from core.settings import KnowledgeSettings
from evals.speed.pgvector_alternative import KnownVectors, StoredChunk, add_chunks, pgvector_store
from evals.toolkit.progress import Progress, no_progress
from knowledge.collections import delete_collection, get_or_create_collection
from knowledge.documents import SourceDocument
from knowledge.embeddings.base import Embedder
from knowledge.errors import KnowledgeError
from knowledge.ingest import IngestReport, chunk_for_embedder
from knowledge.models import TSV_EXPRESSION, Collection
from knowledge.service import KnowledgeBase
from knowledge.sources.sync import BATCH_DOCUMENTS
from knowledge.store import PreparedDocument, write_documents
from knowledge.vector_index import build_vector_index

BENCH_TENANT = "bench"
WRITE_BATCH_DOCUMENTS = 500
WARM_UP_DOCUMENTS = 20
INGEST_PATH = "threadwise ingest"
SYNC_PATH = "source sync"


@dataclass
class EndToEnd:
    """One way into the pipeline, timed whole, then the bare embedder on the texts it embedded (one round)."""

    path: str
    """``threadwise ingest`` (files from a folder) or ``source sync`` (``add_documents``, as a sync writes)."""
    documents: int
    chunks: int
    """Chunks written."""
    embedded_texts: int
    """Texts the ingest had embedded: as many as its chunks, every collection starting empty."""
    embed_calls: int
    seconds: float
    chunks_per_second: float
    bare_embedder_seconds: float
    """The same texts through ``embed_array``, in the same calls, back to back, nothing else running."""
    bare_embedder_chunks_per_second: float
    ratio: float
    """End-to-end chunks/s ÷ the bare embedder's chunks/s."""


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
    """``threadwise ingest`` of the documents as files (every round summed), index build included."""
    end_to_end_documents_per_second: float = 0.0
    end_to_end_chunks_per_second: float = 0.0
    bare_embedder_chunks_per_second: float = 0.0
    """The bare embedder on the texts ``threadwise ingest`` embedded, in its calls."""
    end_to_end_ratio: float = 0.0
    sync_chunks_per_second: float = 0.0
    """Writing the documents as a source sync does, ``BATCH_DOCUMENTS`` at a time."""
    sync_bare_embedder_chunks_per_second: float = 0.0
    sync_ratio: float = 0.0
    rounds: list[EndToEnd] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class RecordingEmbedder(Embedder):
    """``inner`` as it is, noting the texts of each ``embed_array`` call: what the bare embedder is timed on."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dims = inner.dims
        self.max_tokens = inner.max_tokens
        self.calls: list[list[str]] = []

    def embed_array(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        return self.inner.embed_array(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


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
    rounds: int = 1,
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
        await _end_to_end(sessionmaker, embedder, settings, documents, result, rounds=rounds, progress=progress)
    return result


async def _end_to_end(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    settings: KnowledgeSettings,
    documents: list[SourceDocument],
    result: IngestBenchmark,
    *,
    rounds: int,
    progress: Progress,
) -> None:
    """Each round: ``threadwise ingest`` of the documents as Markdown files, then the bare embedder on its calls;
    then the same documents written as a source sync writes them, then the bare embedder on those calls."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        corpus = Path(folder) / "corpus"
        await asyncio.to_thread(_write_markdown_files, corpus, documents)
        progress("warming up (model sessions, tokenizers, loaders)", 0, 1)
        warm_up = Path(folder) / "warm-up"
        await asyncio.to_thread(_write_markdown_files, warm_up, documents[:WARM_UP_DOCUMENTS])
        await _timed_ingest(sessionmaker, RecordingEmbedder(embedder), settings, "warm-up", [str(warm_up)])
        await _timed_sync(sessionmaker, RecordingEmbedder(embedder), settings, "warm-up", documents[:WARM_UP_DOCUMENTS])

        for round_number in range(1, rounds + 1):
            label = f" (round {round_number} of {rounds})" if rounds > 1 else ""
            recording = RecordingEmbedder(embedder)
            progress(f"end to end: threadwise ingest{label}", 0, 1)
            seconds, report = await _timed_ingest(sessionmaker, recording, settings, "end-to-end", [str(corpus)])
            progress(f"bare embedder on the same calls{label}", 0, 1)
            result.rounds.append(await _with_bare(INGEST_PATH, len(documents), seconds, report, recording))

            recording = RecordingEmbedder(embedder)
            progress(f"end to end: source sync, {BATCH_DOCUMENTS} documents at a time{label}", 0, 1)
            seconds, report = await _timed_sync(sessionmaker, recording, settings, "sync", documents)
            progress(f"bare embedder on the same calls{label}", 0, 1)
            result.rounds.append(await _with_bare(SYNC_PATH, len(documents), seconds, report, recording))

    ingest = [run for run in result.rounds if run.path == INGEST_PATH]
    sync = [run for run in result.rounds if run.path == SYNC_PATH]
    result.end_to_end_seconds = round(sum(run.seconds for run in ingest), 1)
    result.end_to_end_documents_per_second = round(sum(run.documents for run in ingest) / result.end_to_end_seconds, 1)
    result.end_to_end_chunks_per_second, result.bare_embedder_chunks_per_second, result.end_to_end_ratio = _overall(
        ingest
    )
    result.sync_chunks_per_second, result.sync_bare_embedder_chunks_per_second, result.sync_ratio = _overall(sync)


def _overall(runs: list[EndToEnd]) -> tuple[float, float, float]:
    """Chunks/s end to end and bare over every round (total chunks over total seconds), and their ratio."""
    end_to_end = sum(run.chunks for run in runs) / sum(run.seconds for run in runs)
    bare = sum(run.embedded_texts for run in runs) / sum(run.bare_embedder_seconds for run in runs)
    return round(end_to_end, 1), round(bare, 1), round(end_to_end / bare, 3)


def _write_markdown_files(folder: Path, documents: list[SourceDocument]) -> None:
    """Each document as ``<n>.md``, its title as the top heading: what ``threadwise ingest`` reads from a folder."""
    folder.mkdir(parents=True)
    for number, document in enumerate(documents):
        title = " ".join(document.title.split())
        heading = f"# {title}\n\n" if title else ""
        (folder / f"{number:06d}.md").write_text(f"{heading}{document.text}\n", encoding="utf-8")


async def _timed_ingest(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: RecordingEmbedder,
    settings: KnowledgeSettings,
    label: str,
    sources: list[str],
) -> tuple[float, IngestReport]:
    kb = KnowledgeBase(sessionmaker=sessionmaker, embedder=embedder, settings=settings)
    name = f"{label}-{uuid.uuid4().hex[:8]}"
    return await _timed(kb, name, lambda: kb.ingest(sources, tenant=BENCH_TENANT, collection=name))


async def _timed_sync(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: RecordingEmbedder,
    settings: KnowledgeSettings,
    label: str,
    documents: list[SourceDocument],
) -> tuple[float, IngestReport]:
    kb = KnowledgeBase(sessionmaker=sessionmaker, embedder=embedder, settings=settings)
    name = f"{label}-{uuid.uuid4().hex[:8]}"

    async def write_in_batches() -> IngestReport:
        total = IngestReport(collection=name)
        for start in range(0, len(documents), BATCH_DOCUMENTS):
            batch = documents[start : start + BATCH_DOCUMENTS]
            report = await kb.add_documents(batch, tenant=BENCH_TENANT, collection=name)
            total.added += report.added
            total.failed += report.failed
            total.chunks_written += report.chunks_written
        return total

    return await _timed(kb, name, write_in_batches)


async def _timed(
    kb: KnowledgeBase, name: str, ingest: Callable[[], Awaitable[IngestReport]]
) -> tuple[float, IngestReport]:
    """Seconds ``ingest`` took into the new collection ``name``, which is dropped afterwards."""
    try:
        tick = time.perf_counter()
        report = await ingest()
        seconds = time.perf_counter() - tick
    finally:
        if any(c.name == name for c in await kb.collections(tenant=BENCH_TENANT)):
            await kb.delete_collection(tenant=BENCH_TENANT, name=name)
    if report.failed:
        raise KnowledgeError(f"the benchmark's ingest failed for {len(report.failed)} documents: {report.failed[0]}")
    return seconds, report


async def _with_bare(
    path: str, documents: int, seconds: float, report: IngestReport, recording: RecordingEmbedder
) -> EndToEnd:
    """The end-to-end figures of one run, beside the bare embedder timed on the calls that run made."""
    calls = recording.calls

    def embed_all() -> float:
        tick = time.perf_counter()
        for texts in calls:
            recording.inner.embed_array(texts)
        return time.perf_counter() - tick

    bare_seconds = await asyncio.to_thread(embed_all)  # a worker thread, as the pipeline embeds
    embedded = sum(len(texts) for texts in calls)
    end_to_end = report.chunks_written / seconds
    bare = embedded / bare_seconds
    return EndToEnd(
        path=path,
        documents=documents,
        chunks=report.chunks_written,
        embedded_texts=embedded,
        embed_calls=len(calls),
        seconds=round(seconds, 3),
        chunks_per_second=round(end_to_end, 1),
        bare_embedder_seconds=round(bare_seconds, 3),
        bare_embedder_chunks_per_second=round(bare, 1),
        ratio=round(end_to_end / bare, 3),
    )
