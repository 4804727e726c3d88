"""BM25 postings ordered by impact, so a search reads each term's strongest postings first and stops early.

``impact`` is the posting's BM25 term-frequency factor (k1 0.9, b 0.4, a nominal average length of 100),
scaled to 0..10000. It only orders a term's postings; scores are still computed exactly from tf and length.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of knowledge.term_stats.impact_sql("tf", "length") at this revision.
IMPACT = "CAST(round(10000 * tf / (tf + 0.9 * (0.6 + 0.4 * length / 100.0))) AS smallint)"


def _primary_key(columns: str) -> None:
    # op.create_primary_key has no INCLUDE; the covering columns make the postings scans index-only.
    op.execute(
        f"ALTER TABLE chunk_terms ADD CONSTRAINT pk_chunk_terms PRIMARY KEY ({columns}) INCLUDE (tf, heading_tf, length)"
    )


def upgrade() -> None:
    op.add_column("chunk_terms", sa.Column("impact", sa.SmallInteger(), nullable=True))
    op.execute(f"UPDATE chunk_terms SET impact = {IMPACT}")
    op.alter_column("chunk_terms", "impact", nullable=False)
    op.drop_constraint(op.f("pk_chunk_terms"), "chunk_terms", type_="primary")
    _primary_key("collection_id, lexeme, impact, chunk_id")


def downgrade() -> None:
    op.drop_constraint(op.f("pk_chunk_terms"), "chunk_terms", type_="primary")
    _primary_key("collection_id, lexeme, chunk_id")
    op.drop_column("chunk_terms", "impact")
