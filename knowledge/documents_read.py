"""Reading documents beyond what a search returned: a document's chunks in order, and the SQL other layers
compose into their own statements to read a document's title or ask whether a document exists (the tables are
knowledge's: no other layer names them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_NEIGHBOUR_CHUNKS = text(
    """
    SELECT this.id, previous_chunk.content, next_chunk.content FROM chunks AS this
    LEFT JOIN chunks AS previous_chunk
        ON previous_chunk.document_id = this.document_id AND previous_chunk.ordinal = this.ordinal - 1
        AND previous_chunk.heading_path = this.heading_path
    LEFT JOIN chunks AS next_chunk
        ON next_chunk.document_id = this.document_id AND next_chunk.ordinal = this.ordinal + 1
    WHERE this.id = ANY(:chunk_ids)
    """
)


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The content of the chunks on either side of one chunk in its document (None at the document's ends). The
    previous one only from the same section: a block that ends another section is not what this one is about."""

    previous: str | None
    next: str | None


async def neighbour_chunk_contents(session: AsyncSession, chunk_ids: Sequence[int]) -> dict[int, Neighbours]:
    """The chunks before and after each of ``chunk_ids`` in its document (by ordinal)."""
    rows = await session.execute(_NEIGHBOUR_CHUNKS, {"chunk_ids": list(chunk_ids)})
    return {chunk_id: Neighbours(previous, following) for chunk_id, previous, following in rows.all()}


# The fragments below name their tables with aliases no caller's statement uses, so that the caller's columns
# (``answers.tenant``) are not shadowed inside them.


def document_title_sql(*, tenant: str, source_uri: str) -> str:
    """A scalar subquery for another layer's statement: the title of ``tenant``'s document at ``source_uri``
    (the newest when several of its collections hold one), NULL when it has none. Never another tenant's: a page
    at the same address may be titled with what that tenant keeps to itself.

    ``tenant`` and ``source_uri`` are SQL expressions of the enclosing statement, written in code (a column such as
    ``answers.tenant``, a bind parameter such as ``:uri``), never values: they are pasted in as they are.
    """
    return (
        "(SELECT knowledge_document.title FROM documents knowledge_document"  # noqa: S608
        " JOIN collections knowledge_collection ON knowledge_collection.id = knowledge_document.collection_id"
        f" WHERE knowledge_collection.tenant = ({tenant}) AND knowledge_document.source_uri = ({source_uri})"
        " ORDER BY knowledge_document.id DESC LIMIT 1)"
    )


def document_exists_sql(*, tenant: str, collection: str, source_uri: str) -> str:
    """A boolean ``EXISTS`` for another layer's statement: ``tenant``'s collection ``collection`` holds a document
    at ``source_uri``. The three are SQL expressions written in code, as for ``document_title_sql``."""
    return (
        "EXISTS (SELECT 1 FROM documents knowledge_document"  # noqa: S608
        " JOIN collections knowledge_collection ON knowledge_collection.id = knowledge_document.collection_id"
        f" WHERE knowledge_collection.tenant = ({tenant}) AND knowledge_collection.name = ({collection})"
        f" AND knowledge_document.source_uri = ({source_uri}))"
    )
