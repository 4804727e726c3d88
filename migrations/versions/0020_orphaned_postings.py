"""Keyword postings left behind by dropped collections are deleted.

``chunk_terms`` has no foreign key to cascade through, so each way of dropping a collection deletes its postings
itself; the bulk loads of ``threadwise bench retrieval`` forgot to, and every run left its whole synthetic
collection's postings (about 2.2 million rows) behind. Nothing reads them, but they fill the table, its index and
the memory PostgreSQL caches them in.

The collections still holding postings are found by a loose scan of the primary key (it leads with the
collection), so a table without orphans costs one index probe per collection, not a read of every posting.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        WITH RECURSIVE holding(collection_id) AS (
            (SELECT collection_id FROM chunk_terms ORDER BY collection_id LIMIT 1)
            UNION ALL
            SELECT (
                SELECT t.collection_id FROM chunk_terms t
                WHERE t.collection_id > holding.collection_id ORDER BY t.collection_id LIMIT 1
            )
            FROM holding WHERE holding.collection_id IS NOT NULL
        )
        DELETE FROM chunk_terms
        WHERE collection_id IN (
            SELECT h.collection_id FROM holding h
            WHERE h.collection_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM collections c WHERE c.id = h.collection_id)
        )
        """
    )


def downgrade() -> None:
    """Nothing to restore: the postings belonged to no collection."""
