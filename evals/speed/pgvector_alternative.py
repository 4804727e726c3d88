"""LangChain's ``PGVector`` (langchain-postgres): the store a team would reach for instead of ours, timed on the
same chunks and vectors in the same run, so that the benches print a ratio rather than a claim.

It keeps its own tables (``langchain_pg_collection``, ``langchain_pg_embedding``) in the same database; the
collection it makes is deleted afterwards, and the tables too when they did not exist before.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

if TYPE_CHECKING:
    from langchain_postgres import PGVector

PGVECTOR_BATCH = 500
_TABLES = ("langchain_pg_embedding", "langchain_pg_collection")


class KnownVectors:
    """An ``Embeddings`` for PGVector that embeds nothing: chunks arrive with their vectors, and a query's vector
    is the one the workload gave it."""

    def __init__(self, dims: int, queries: Mapping[str, npt.NDArray[np.float32]] | None = None) -> None:
        self.dims = dims
        self._queries = dict(queries or {})

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError("the benchmarks pass precomputed vectors")

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self._queries[text]]


@dataclass(frozen=True, slots=True)
class StoredChunk:
    content: str
    vector: npt.NDArray[np.float32]
    metadata: dict[str, object]


def _sync_url(url: URL) -> str:
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@contextmanager
def pgvector_store(url: URL, embeddings: KnownVectors) -> Iterator[PGVector]:
    """A fresh PGVector collection, deleted on exit with the tables it created."""
    from langchain_postgres import PGVector

    engine = create_engine(_sync_url(url))
    try:
        with engine.connect() as connection:
            existed = all(connection.scalar(text(f"SELECT to_regclass('{table}')")) for table in _TABLES)
        store = PGVector(
            embeddings=embeddings,  # type: ignore[arg-type]  # the Embeddings protocol, duck-typed
            collection_name=f"threadwise-bench-{uuid.uuid4().hex[:8]}",
            connection=engine,
            embedding_length=embeddings.dims,
            use_jsonb=True,
        )
        try:
            yield store
        finally:
            store.delete_collection()
            if not existed:  # leave the database as it was found
                with engine.begin() as connection:
                    connection.execute(text(f"DROP TABLE IF EXISTS {', '.join(_TABLES)}"))
    finally:
        engine.dispose()


def add_chunks(store: PGVector, chunks: Iterable[StoredChunk]) -> tuple[int, float]:
    """``PGVector.add_embeddings`` in batches; returns (chunks, seconds inside the calls)."""
    seconds, count = 0.0, 0
    batch: list[StoredChunk] = []

    def flush() -> float:
        started = time.perf_counter()
        store.add_embeddings(
            [c.content for c in batch], [c.vector.tolist() for c in batch], metadatas=[c.metadata for c in batch]
        )
        return time.perf_counter() - started

    for chunk in chunks:
        batch.append(chunk)
        if len(batch) == PGVECTOR_BATCH:
            seconds += flush()
            count += len(batch)
            batch = []
    if batch:
        seconds += flush()
        count += len(batch)
    return count, seconds


def build_hnsw_index(url: URL) -> float:
    """The HNSW index a team would add to PGVector's table (it ships with none); returns seconds."""
    engine = create_engine(_sync_url(url))
    try:
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE INDEX IF NOT EXISTS langchain_pg_embedding_hnsw "
                    "ON langchain_pg_embedding USING hnsw (embedding vector_cosine_ops)"
                )
            )
        return time.perf_counter() - started
    finally:
        engine.dispose()


def time_searches(store: PGVector, queries: Sequence[str], *, k: int, warmup: int) -> list[float]:
    """Milliseconds of ``similarity_search`` per query, after ``warmup`` untimed ones."""
    samples: list[float] = []
    for index, query in enumerate(queries):
        started = time.perf_counter()
        store.similarity_search(query, k=k)
        if index >= warmup:
            samples.append((time.perf_counter() - started) * 1000)
    return samples
