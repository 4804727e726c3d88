"""Reading a document's chunks in order, beyond what a search returned."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_NEXT_CHUNK = text(
    """
    SELECT next.content FROM chunks AS this
    JOIN chunks AS next ON next.document_id = this.document_id AND next.ordinal = this.ordinal + 1
    WHERE this.id = :chunk_id
    """
)


async def next_chunk_content(session: AsyncSession, chunk_id: int) -> str | None:
    """The content of the chunk after ``chunk_id`` in the same document (by ordinal), or None at its end."""
    content: str | None = (await session.execute(_NEXT_CHUNK, {"chunk_id": chunk_id})).scalar_one_or_none()
    return content
