"""Run a retrieval evaluation: load a data set into a throwaway collection, query it, score the rankings.

The collection lives under the ``eval`` tenant and is deleted afterwards, whatever happens. Query embedding and
database search are timed separately, so the search latency is the database's alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import session_scope
from core.settings import KnowledgeSettings
from knowledge.collections import delete_collection, get_or_create_collection
from knowledge.documents import SourceDocument
from knowledge.embeddings.base import Embedder
from knowledge.evaluation.datasets import EvalQuery, EvalSet
from knowledge.evaluation.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k, unique_in_order
from knowledge.ingest import chunk_for_embedder
from knowledge.models import Collection
from knowledge.search import SearchMode, SearchParams, search
from knowledge.store import PreparedDocument, write_documents
from knowledge.vector_index import build_vector_index, vacuum_search_tables

EVAL_TENANT = "eval"
WRITE_BATCH_DOCUMENTS = 500
RANKING_DEPTH = 100
WARMUP_QUERIES = 20

Progress = Callable[[str, int, int], None]
"""(stage, done, total)."""


@dataclass
class ModeResult:
    mode: SearchMode
    queries: int
    metrics: dict[str, float]
    search_ms: dict[str, float]


@dataclass
class EvaluationResult:
    dataset: str
    documents: int
    chunks: int
    load_seconds: float
    embed_query_ms: dict[str, float]
    modes: list[ModeResult] = field(default_factory=list)


class EmbeddingCache:
    """Vectors by text hash in one ``.npz`` per model, so repeated evaluations skip re-embedding the corpus."""

    def __init__(self, folder: Path | None, model: str) -> None:
        slug = "".join(ch if ch.isalnum() else "-" for ch in model)
        self._path = folder / f"embeddings-{slug}.npz" if folder else None
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}
        self._dirty = False
        if self._path and self._path.is_file():
            with np.load(self._path) as stored:
                self._vectors = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def embed(self, embedder: Embedder, texts: list[str]) -> npt.NDArray[np.float32]:
        keys = [self.key(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self._vectors]
        if missing:
            fresh = embedder.embed_array([texts[i] for i in missing])
            for i, vector in zip(missing, fresh, strict=True):
                self._vectors[keys[i]] = vector
            self._dirty = True
        return np.stack([self._vectors[k] for k in keys]) if keys else np.zeros((0, embedder.dims), np.float32)

    def save(self) -> None:
        if self._path is None or not self._dirty:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._vectors)
        np.savez(self._path, keys=np.array(keys), vectors=np.stack([self._vectors[k] for k in keys]))


async def load_collection(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    settings: KnowledgeSettings,
    dataset: EvalSet,
    *,
    cache: EmbeddingCache,
    progress: Progress,
) -> tuple[Collection, int]:
    """Chunk, embed and bulk-write the data set into a new collection, then build its vector index."""
    async with session_scope(sessionmaker) as session:
        collection, _ = await get_or_create_collection(
            session, tenant=EVAL_TENANT, name=f"{dataset.name}-{uuid.uuid4().hex[:8]}", embedder=embedder
        )
    total, chunks_written = len(dataset.documents), 0
    for start in range(0, total, WRITE_BATCH_DOCUMENTS):
        batch = dataset.documents[start : start + WRITE_BATCH_DOCUMENTS]

        def prepare(batch: list[SourceDocument] = batch) -> list[PreparedDocument]:
            drafts = [chunk_for_embedder(document, embedder, settings) for document in batch]
            # One embedding call for the whole batch: batches of similar lengths, not one per document.
            vectors = cache.embed(embedder, [chunk.embedding_text() for chunks in drafts for chunk in chunks])
            prepared, offset = [], 0
            for document, chunks in zip(batch, drafts, strict=True):
                prepared.append(
                    PreparedDocument(document, cache.key(document.text), chunks, vectors[offset : offset + len(chunks)])
                )
                offset += len(chunks)
            return prepared

        prepared = await asyncio.to_thread(prepare)
        async with session_scope(sessionmaker) as session:
            chunks_written += await write_documents(session, collection, prepared)
        progress("embedding and writing", start + len(batch), total)
    cache.save()
    progress("building the vector index", 0, 1)
    async with session_scope(sessionmaker) as session:
        await build_vector_index(session, collection)
    await vacuum_search_tables(sessionmaker.kw["bind"])
    async with session_scope(sessionmaker) as session:
        refreshed = await session.get(Collection, collection.id)
    return refreshed or collection, chunks_written


async def evaluate_retrieval(
    sessionmaker: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    settings: KnowledgeSettings,
    dataset: EvalSet,
    *,
    modes: list[SearchMode],
    params: SearchParams,
    cache_dir: Path | None = None,
    max_queries: int | None = None,
    progress: Progress = lambda stage, done, total: None,
) -> EvaluationResult:
    cache = EmbeddingCache(cache_dir, embedder.name)
    started = time.perf_counter()
    collection, chunks = await load_collection(
        sessionmaker, embedder, settings, dataset, cache=cache, progress=progress
    )
    try:
        result = EvaluationResult(
            dataset=dataset.name,
            documents=len(dataset.documents),
            chunks=chunks,
            load_seconds=round(time.perf_counter() - started, 2),
            embed_query_ms={},
        )
        queries = dataset.queries[:max_queries] if max_queries else dataset.queries
        embed_ms: list[float] = []
        vectors: list[npt.NDArray[np.float32]] = []
        for done, query in enumerate(queries, start=1):
            tick = time.perf_counter()
            vectors.append(embedder.embed_array([query.text])[0])
            embed_ms.append((time.perf_counter() - tick) * 1000)
            if done % 50 == 0 or done == len(queries):
                progress("embedding queries", done, len(queries))
        result.embed_query_ms = _latency(embed_ms)
        for mode in modes:
            result.modes.append(
                await _run_mode(sessionmaker, collection, queries, vectors, mode=mode, params=params, progress=progress)
            )
        return result
    finally:
        async with session_scope(sessionmaker) as session:
            await delete_collection(session, tenant=EVAL_TENANT, name=collection.name)


async def _run_mode(
    sessionmaker: async_sessionmaker[AsyncSession],
    collection: Collection,
    queries: list[EvalQuery],
    vectors: list[npt.NDArray[np.float32]],
    *,
    mode: SearchMode,
    params: SearchParams,
    progress: Progress,
) -> ModeResult:
    scores: dict[str, list[float]] = {
        name: [] for name in ("ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "mrr@10")
    }
    search_ms: list[float] = []
    async with sessionmaker() as session:

        async def ranked_sources(query: EvalQuery, vector: npt.NDArray[np.float32]) -> list[str]:
            async with session.begin():
                hits = await search(
                    session,
                    collections=[collection],
                    query=query.text,
                    query_vector=vector,
                    mode=mode,
                    limit=RANKING_DEPTH,
                    params=params,
                )
            return unique_in_order([hit.source_uri for hit in hits])

        # Untimed warm-up: the first queries after a load read the indexes from disk into shared buffers.
        for query, vector in list(zip(queries, vectors, strict=True))[:WARMUP_QUERIES]:
            await ranked_sources(query, vector)
        for done, (query, vector) in enumerate(zip(queries, vectors, strict=True), start=1):
            tick = time.perf_counter()
            ranked = await ranked_sources(query, vector)
            search_ms.append((time.perf_counter() - tick) * 1000)
            scores["ndcg@10"].append(ndcg_at_k(ranked, query.relevant, 10))
            for k in (1, 5, 10, 100):
                scores[f"recall@{k}"].append(recall_at_k(ranked, query.relevant, k))
            scores["mrr@10"].append(mrr_at_k(ranked, query.relevant, 10))
            if done % 50 == 0 or done == len(queries):
                progress(f"{mode} search", done, len(queries))
    metrics = {name: round(float(np.mean(values)), 4) if values else 0.0 for name, values in scores.items()}
    return ModeResult(mode=mode, queries=len(queries), metrics=metrics, search_ms=_latency(search_ms))


def _latency(samples: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(samples, q), 2) for q in (50, 95, 99)}
