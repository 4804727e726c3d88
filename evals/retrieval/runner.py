"""Run a retrieval evaluation: load a data set into a throwaway collection, query it, score the rankings.

The collection lives under the ``eval`` tenant and is deleted afterwards, whatever happens. Query embedding and
database search are timed separately, so the search latency is the database's alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import session_scope
from core.settings import KnowledgeSettings
from evals.load.collections import EVAL_TENANT, EmbeddingCache, load_collection
from evals.load.retrieval_sets import EvalQuery, EvalSet
from evals.retrieval.metrics import mrr_at_k, ndcg_at_k, recall_at_k
from evals.toolkit.progress import Progress, no_progress
from evals.toolkit.stats import latency_percentiles, unique_in_order
from knowledge.collections import delete_collection
from knowledge.embeddings.base import Embedder
from knowledge.models import Collection
from knowledge.search import SearchMode, SearchParams, search

RANKING_DEPTH = 100
WARMUP_QUERIES = 20


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
    progress: Progress = no_progress,
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
        result.embed_query_ms = latency_percentiles(embed_ms, digits=2)
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
    return ModeResult(
        mode=mode, queries=len(queries), metrics=metrics, search_ms=latency_percentiles(search_ms, digits=2)
    )
