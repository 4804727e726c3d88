"""Collections filled in bulk, for measurement (``threadwise eval``, ``threadwise bench``): created empty, given
numbered documents whose chunks are then copied in, found again by name, sized and dropped with their index.

Everything here works in the caller's unit of work; the tables stay knowledge's own.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.models import Collection, Document
from knowledge.term_stats import remove_collection_postings
from knowledge.vector_index import drop_vector_index


async def collection_named(session: AsyncSession, *, tenant: str, name: str) -> Collection | None:
    return await session.scalar(select(Collection).where(Collection.tenant == tenant, Collection.name == name))


async def collection_names(session: AsyncSession, *, tenant: str, prefix: str) -> list[str]:
    """The tenant's collections whose names start with ``prefix``."""
    names = await session.scalars(
        select(Collection.name).where(Collection.tenant == tenant, Collection.name.startswith(prefix))
    )
    return list(names)


async def reloaded(session: AsyncSession, collection: Collection) -> Collection:
    """``collection`` as stored now (its counts updated by the writes since it was read)."""
    return await session.get(Collection, collection.id) or collection


async def create_empty_collection(
    session: AsyncSession, *, tenant: str, name: str, embedding_model: str, dims: int
) -> Collection:
    collection = Collection(tenant=tenant, name=name, embedding_model=embedding_model, dims=dims)
    session.add(collection)
    await session.flush()
    return collection


async def drop_collection(session: AsyncSession, collection: Collection) -> None:
    """The collection, its documents and chunks, its keyword postings and its vector index."""
    doomed = await session.get(Collection, collection.id)
    if doomed is not None:
        await drop_vector_index(session, doomed)
        await remove_collection_postings(session, collection_id=doomed.id)
        await session.delete(doomed)
        await session.flush()


async def add_numbered_documents(session: AsyncSession, collection: Collection, *, count: int, prefix: str) -> None:
    """``count`` empty documents at ``{prefix}0`` … ``{prefix}{count - 1}``, titled by their number, in one
    statement; their chunks are copied in afterwards (``knowledge.store.copy_chunks``)."""
    await session.execute(
        text(
            "INSERT INTO documents (collection_id, source_uri, title, content_hash) "
            "SELECT :cid, :prefix || g, 'Synthetic document ' || g, '' "
            "FROM generate_series(0, :n - 1) AS g"
        ),
        {"cid": collection.id, "n": count, "prefix": prefix},
    )


async def document_ids(session: AsyncSession, collection: Collection) -> dict[str, int]:
    """The collection's documents: id by source URI."""
    rows = await session.execute(
        select(Document.source_uri, Document.id).where(Document.collection_id == collection.id)
    )
    return dict(rows.tuples().all())


async def chunks_table_mb(session: AsyncSession) -> float:
    """The size of the chunks table with its indexes, in MB."""
    return round(float(await session.scalar(text("SELECT pg_total_relation_size('chunks')")) or 0) / 1e6, 1)
