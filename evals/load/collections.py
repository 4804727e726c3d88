"""Throwaway collections: a public data set chunked, embedded and written under the ``eval`` tenant, and a cache
of its vectors so that a second run skips re-embedding the corpus. Callers delete the collection afterwards."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import session_scope
from core.settings import KnowledgeSettings
from evals.load.retrieval_sets import EvalSet
from evals.toolkit.database import engine_of
from evals.toolkit.progress import Progress
from knowledge.bulk_load import reloaded
from knowledge.collections import get_or_create_collection
from knowledge.documents import SourceDocument
from knowledge.embeddings.base import Embedder
from knowledge.ingest import chunk_for_embedder
from knowledge.models import Collection
from knowledge.store import PreparedDocument, write_documents
from knowledge.vector_index import build_vector_index, vacuum_search_tables

EVAL_TENANT = "eval"
WRITE_BATCH_DOCUMENTS = 500


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
    await vacuum_search_tables(engine_of(sessionmaker))
    async with session_scope(sessionmaker) as session:
        refreshed = await reloaded(session, collection)
    return refreshed, chunks_written
