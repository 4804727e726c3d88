"""Writing documents and their chunks: document rows through SQLAlchemy, chunks through binary COPY.

Everything happens in the caller's transaction: a document is replaced whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.documents import ChunkDraft, SourceDocument
from knowledge.models import Chunk, Collection, Document
from knowledge.term_stats import update_term_stats

CHUNK_COLUMNS = (
    "document_id",
    "collection_id",
    "ordinal",
    "heading_path",
    "content",
    "token_count",
    "embedding",
    "metadata",
)


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A document ready to store: chunked and embedded (one row of ``vectors`` per chunk)."""

    source: SourceDocument
    content_hash: str
    chunks: list[ChunkDraft]
    vectors: npt.NDArray[np.float32]


async def stored_hashes(
    session: AsyncSession, collection: Collection, source_uris: Sequence[str] | None = None
) -> dict[str, str]:
    """source_uri → content hash of every document in the collection, or of those of ``source_uris`` that it has
    (a few documents written into a big collection need not read all of its hashes)."""
    query = select(Document.source_uri, Document.content_hash).where(Document.collection_id == collection.id)
    if source_uris is not None:
        if not source_uris:
            return {}
        query = query.where(Document.source_uri.in_(source_uris))
    rows = await session.execute(query)
    return dict(rows.all())


async def stored_vectors(
    session: AsyncSession, collection: Collection, source_uris: Sequence[str]
) -> dict[str, npt.NDArray[np.float32]]:
    """The vectors of these documents' chunks as stored, by the text that was embedded (``embedding_text``): a
    changed document's unchanged chunks keep theirs instead of being embedded again."""
    if not source_uris:
        return {}
    rows = await session.execute(
        select(Chunk.heading_path, Chunk.content, Chunk.embedding)
        .join(Document, Document.id == Chunk.document_id)
        .where(Document.collection_id == collection.id, Document.source_uri.in_(source_uris))
    )
    return {
        (f"{heading}\n{content}" if heading else content): np.asarray(vector, dtype=np.float32)
        for heading, content, vector in rows
    }


async def remove_documents(session: AsyncSession, collection: Collection, source_uris: Sequence[str]) -> int:
    """Delete these documents (chunks cascade) and take them out of the BM25 statistics; returns how many."""
    if not source_uris:
        return 0
    document_ids = list(
        await session.scalars(
            select(Document.id).where(Document.collection_id == collection.id, Document.source_uri.in_(source_uris))
        )
    )
    if not document_ids:
        return 0
    await update_term_stats(session, collection_id=collection.id, document_ids=document_ids, change="remove")
    await session.execute(delete(Document).where(Document.id.in_(document_ids)))
    return len(document_ids)


async def write_documents(session: AsyncSession, collection: Collection, documents: Sequence[PreparedDocument]) -> int:
    """Store documents, replacing earlier versions with the same source URI; returns chunks written."""
    if not documents:
        return 0
    await remove_documents(session, collection, [d.source.source_uri for d in documents])
    document_ids = list(
        await session.scalars(
            insert(Document).returning(Document.id, sort_by_parameter_order=True),
            [
                {
                    "collection_id": collection.id,
                    "source_uri": d.source.source_uri,
                    "title": d.source.title,
                    "content_hash": d.content_hash,
                    "metadata_": d.source.metadata,
                }
                for d in documents
            ],
        )
    )
    records = [
        _chunk_record(document_id, collection.id, chunk, vector)
        for document_id, document in zip(document_ids, documents, strict=True)
        for chunk, vector in zip(document.chunks, document.vectors, strict=True)
    ]
    await copy_chunks(session, records)
    await update_term_stats(session, collection_id=collection.id, document_ids=document_ids, change="add")
    return len(records)


def _chunk_record(
    document_id: int, collection_id: int, chunk: ChunkDraft, vector: npt.NDArray[np.float32]
) -> tuple[Any, ...]:
    return (
        document_id,
        collection_id,
        chunk.ordinal,
        chunk.title,
        chunk.content,
        chunk.token_count,
        vector,
        json.dumps({}),
    )


async def copy_chunks(session: AsyncSession, records: Sequence[tuple[Any, ...]]) -> None:
    """Binary COPY into ``chunks`` on the session's own connection, inside its transaction."""
    if not records:
        return
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    asyncpg_connection: Any = raw.driver_connection
    await asyncpg_connection.copy_records_to_table("chunks", records=records, columns=CHUNK_COLUMNS)
