"""One HNSW index per collection, over its chunks' embeddings cast to the collection's dimensions.

A partial index per collection lets collections of different embedding sizes share one table, keeps each
index small, and lets a bulk load write without an index and build it once afterwards (inserting into an
existing HNSW index is ~50× slower than COPY).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.db import vacuum_analyze
from knowledge.models import Collection

# pgvector's defaults; ef_search (query time) is set on each connection (core.db), and per search when it differs.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64


def vector_index_name(collection: Collection) -> str:
    return f"ix_chunks_embedding_c{int(collection.id)}"


def embedding_expression(collection: Collection) -> str:
    """The indexed expression; queries must use exactly this text for the planner to pick the index."""
    return f"(embedding::vector({int(collection.dims)}))"


async def has_vector_index(session: AsyncSession, collection: Collection) -> bool:
    found = await session.scalar(text("SELECT to_regclass(:name)"), {"name": vector_index_name(collection)})
    return found is not None


async def build_vector_index(session: AsyncSession, collection: Collection, *, memory_mb: int = 512) -> None:
    """Create the collection's HNSW index if it does not exist (after a bulk load).

    The build is several times faster when the whole graph fits in ``memory_mb`` (about 2 kB per
    384-dimension chunk), so bulk loads of a million chunks should pass ~2,000.
    """
    # Identifiers and numbers below come from our own rows (ints), never from user input.
    await session.execute(text(f"SET LOCAL maintenance_work_mem = '{int(memory_mb)}MB'"))
    await session.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {vector_index_name(collection)} ON chunks "
            f"USING hnsw ({embedding_expression(collection)} vector_cosine_ops) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) "
            f"WHERE collection_id = {int(collection.id)}"
        )
    )


async def analyze_search_tables(session: AsyncSession) -> None:
    """Refresh planner statistics after a bulk load instead of waiting for autovacuum to notice it."""
    await session.execute(text("ANALYZE chunks, chunk_terms, collection_terms"))


async def vacuum_search_tables(engine: AsyncEngine) -> None:
    """VACUUM ANALYZE after a bulk load: fresh visibility maps for index-only scans, fresh statistics, and no
    autovacuum competing with the first queries (benchmarks and evaluations time those)."""
    await vacuum_analyze(engine, "chunks, chunk_terms, collection_terms")


async def drop_vector_index(session: AsyncSession, collection: Collection, *, wait_ms: int = 2000) -> bool:
    """Drop the collection's index if its lock comes within ``wait_ms``; False if it was left for later.

    DROP INDEX locks the whole shared chunks table: waiting behind a long transaction (a big ingest) would
    queue every other tenant's searches behind it. An index whose collection is gone costs nothing and is
    removed by ``drop_orphan_vector_indexes``.
    """
    try:
        async with session.begin_nested():
            await session.execute(text(f"SET LOCAL lock_timeout = '{int(wait_ms)}ms'"))
            await session.execute(text(f"DROP INDEX IF EXISTS {vector_index_name(collection)}"))
            await session.execute(text("SET LOCAL lock_timeout = DEFAULT"))
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        return False
    return True


async def drop_orphan_vector_indexes(engine: AsyncEngine, *, wait_ms: int = 5000) -> list[str]:
    """Drop, without blocking searches (CONCURRENTLY), the HNSW indexes of collections that no longer exist.

    Returns the ones dropped; any still in use by a long transaction after ``wait_ms`` wait for the next call.
    The wait is bounded by a cancel request rather than ``SET lock_timeout``: behind a transaction pooler a SET
    would stay on whichever server connection ran it, for other clients, and a cancelled drop leaves the index
    in place (at worst marked invalid) for the next call.
    """
    dropped: list[str] = []
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        names = (
            await connection.scalars(
                text(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'chunks' "
                    "AND indexname LIKE 'ix\\_chunks\\_embedding\\_c%' "
                    "AND substring(indexname FROM 'c([0-9]+)$')::bigint NOT IN (SELECT id FROM collections)"
                )
            )
        ).all()
        raw = await connection.get_raw_connection()
        asyncpg_connection: Any = raw.driver_connection
        for name in names:
            try:
                await asyncpg_connection.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"', timeout=wait_ms / 1000)
            except TimeoutError:
                continue
            dropped.append(name)
    return dropped
