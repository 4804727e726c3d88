"""The throwaway corpus an answer evaluation asks about: a data set loaded into a collection of the ``eval``
tenant, deleted afterwards whatever happens."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from core.db import session_scope
from evals.load.collections import EVAL_TENANT, EmbeddingCache, load_collection
from evals.load.retrieval_sets import EvalSet
from evals.toolkit.progress import Progress, no_progress
from knowledge.bulk_load import collection_names
from knowledge.collections import delete_collection
from knowledge.service import KnowledgeBase


@dataclass
class CorpusInfo:
    dataset: str
    collection: str
    documents: int
    chunks: int
    load_seconds: float


@asynccontextmanager
async def eval_corpus(
    knowledge: KnowledgeBase,
    corpus: EvalSet,
    *,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> AsyncIterator[CorpusInfo]:
    """The corpus in a new collection of the ``eval`` tenant, deleted on exit (also when loading fails)."""
    run = uuid.uuid4().hex[:8]
    # The run id in the name lets a failed load's half-written collection be found and removed.
    named = EvalSet(name=f"{corpus.name}:answers-{run}", documents=corpus.documents, queries=[])
    cache = EmbeddingCache(cache_dir, knowledge.embedder.name)
    started = time.perf_counter()
    try:
        collection, chunks = await load_collection(
            knowledge.sessionmaker, knowledge.embedder, knowledge.settings, named, cache=cache, progress=progress
        )
        yield CorpusInfo(
            dataset=corpus.name,
            collection=collection.name,
            documents=len(corpus.documents),
            chunks=chunks,
            load_seconds=round(time.perf_counter() - started, 2),
        )
    finally:
        await _delete_collections(knowledge, prefix=f"{named.name}-")


async def _delete_collections(knowledge: KnowledgeBase, *, prefix: str) -> None:
    async with session_scope(knowledge.sessionmaker) as session:
        for name in await collection_names(session, tenant=EVAL_TENANT, prefix=prefix):
            await delete_collection(session, tenant=EVAL_TENANT, name=name)
