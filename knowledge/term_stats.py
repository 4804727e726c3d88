"""BM25 data kept in step with the chunks: postings, document frequency per lexeme, chunk count, total length.

Everything is derived from the chunks' ``tsv`` inside PostgreSQL, in the same transaction as the chunk writes
and deletes, so the statistics never disagree with the chunks a search can see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def impact_sql(tf: str, length: str) -> str:
    """A posting's BM25 tf factor (k1 0.9, b 0.4, nominal average length 100) as 0..10000: its sort key.

    Searches read a term's postings in this order and stop after the strongest few thousand; the score
    itself is recomputed exactly. Migration 0003 keeps a frozen copy: change both or neither.
    """
    return f"CAST(round(10000 * {tf} / ({tf} + 0.9 * (0.6 + 0.4 * {length} / 100.0))) AS smallint)"


# Each chunk's postings as (lexeme, tf, heading tf, length); "impact" follows from tf and length.
_CHUNK_POSTINGS = """
    SELECT c.collection_id, c.id AS chunk_id, u.lexeme, t.tf, t.heading_tf, t.length,
           {impact} AS impact
    FROM chunks c
    CROSS JOIN LATERAL unnest(c.tsv) AS u
    CROSS JOIN LATERAL (
        SELECT coalesce(array_length(u.positions, 1), 1) AS tf,
               cardinality(array_positions(u.weights, 'A')) AS heading_tf,
               least(length(c.tsv), 32767) AS length
    ) AS t
    WHERE c.document_id = ANY(:document_ids)
""".format(impact=impact_sql("t.tf", "t.length"))

_ADD_POSTINGS = text(
    f"""
    INSERT INTO chunk_terms (collection_id, lexeme, impact, chunk_id, tf, heading_tf, length)
    SELECT collection_id, lexeme, impact, chunk_id, tf, heading_tf, length
    FROM ({_CHUNK_POSTINGS}) AS p
    ORDER BY lexeme, impact, chunk_id  -- in index order: each term's page is touched once, not once per chunk
    """
)

_REMOVE_POSTINGS = text(
    f"""
    DELETE FROM chunk_terms p
    USING ({_CHUNK_POSTINGS}) AS gone
    WHERE p.collection_id = :collection_id AND p.lexeme = gone.lexeme
      AND p.impact = gone.impact AND p.chunk_id = gone.chunk_id
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
    -- Two disjoint sets of rows: terms that keep some chunks are decremented, the others deleted. (One
    -- statement cannot delete a row that its own CTE just updated: both see the same snapshot.)
    WITH gone AS (
        SELECT u.lexeme, count(*) AS df
        FROM chunks c CROSS JOIN LATERAL unnest(c.tsv) AS u
        WHERE c.document_id = ANY(:document_ids)
        GROUP BY u.lexeme
    ), emptied AS (
        DELETE FROM collection_terms t
        USING gone
        WHERE t.collection_id = :collection_id AND t.lexeme = gone.lexeme AND t.df <= gone.df
    )
    UPDATE collection_terms t SET df = t.df - gone.df
    FROM gone
    WHERE t.collection_id = :collection_id AND t.lexeme = gone.lexeme AND t.df > gone.df
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
