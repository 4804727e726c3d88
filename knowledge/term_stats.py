"""BM25 data kept in step with the chunks: postings, document frequency per lexeme, chunk count, total length.

Everything is derived from the chunks' ``tsv`` inside PostgreSQL, in the same transaction as the chunk writes
and deletes, so the statistics never disagree with the chunks a search can see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_ADD_POSTINGS = text(
    """
    INSERT INTO chunk_terms (collection_id, lexeme, chunk_id, tf, heading_tf, length)
    SELECT c.collection_id, u.lexeme, c.id,
           coalesce(array_length(u.positions, 1), 1),
           cardinality(array_positions(u.weights, 'A')),
           least(length(c.tsv), 32767)
    FROM chunks c CROSS JOIN LATERAL unnest(c.tsv) AS u
    WHERE c.document_id = ANY(:document_ids)
    """
)

_REMOVE_POSTINGS = text(
    """
    DELETE FROM chunk_terms p
    USING chunks c CROSS JOIN LATERAL unnest(c.tsv) AS u
    WHERE c.document_id = ANY(:document_ids)
      AND p.collection_id = :collection_id AND p.lexeme = u.lexeme AND p.chunk_id = c.id
    """
)

_ADD_TERMS = text(
    """
    INSERT INTO collection_terms (collection_id, lexeme, df)
    SELECT :collection_id, u.lexeme, count(*)
    FROM chunks c CROSS JOIN LATERAL unnest(c.tsv) AS u
    WHERE c.document_id = ANY(:document_ids)
    GROUP BY u.lexeme
    ORDER BY u.lexeme  -- a stable lock order between concurrent writers
    ON CONFLICT (collection_id, lexeme) DO UPDATE SET df = collection_terms.df + EXCLUDED.df
    """
)

_REMOVE_TERMS = text(
    """
    WITH gone AS (
        SELECT u.lexeme, count(*) AS df
        FROM chunks c CROSS JOIN LATERAL unnest(c.tsv) AS u
        WHERE c.document_id = ANY(:document_ids)
        GROUP BY u.lexeme
    ), updated AS (
        UPDATE collection_terms t SET df = t.df - gone.df
        FROM gone
        WHERE t.collection_id = :collection_id AND t.lexeme = gone.lexeme
        RETURNING t.lexeme, t.df
    )
    DELETE FROM collection_terms t
    USING updated
    WHERE t.collection_id = :collection_id AND t.lexeme = updated.lexeme AND updated.df <= 0
    """
)

_TOTALS = """
    UPDATE collections SET
        chunk_count = chunk_count {sign} totals.chunks,
        term_total = term_total {sign} totals.terms,
        updated_at = now()
    FROM (
        SELECT count(*) AS chunks, coalesce(sum(length(tsv)), 0) AS terms
        FROM chunks WHERE document_id = ANY(:document_ids)
    ) AS totals
    WHERE collections.id = :collection_id
"""
_ADD_TOTALS = text(_TOTALS.format(sign="+"))
_REMOVE_TOTALS = text(_TOTALS.format(sign="-"))


async def update_term_stats(
    session: AsyncSession, *, collection_id: int, document_ids: Sequence[int], change: Literal["add", "remove"]
) -> None:
    """Count the chunks of ``document_ids`` in (after writing them) or out (before deleting them)."""
    if not document_ids:
        return
    params = {"collection_id": collection_id, "document_ids": list(document_ids)}
    if change == "add":
        await session.execute(_ADD_POSTINGS, params)
        await session.execute(_ADD_TERMS, params)
        await session.execute(_ADD_TOTALS, params)
    else:
        await session.execute(_REMOVE_POSTINGS, params)
        await session.execute(_REMOVE_TERMS, params)
        await session.execute(_REMOVE_TOTALS, params)


async def remove_collection_postings(session: AsyncSession, *, collection_id: int) -> None:
    """Postings have no foreign key to cascade through; a deleted collection takes them with it here."""
    await session.execute(text("DELETE FROM chunk_terms WHERE collection_id = :c"), {"c": collection_id})
