"""Give collections an audience: who may be shown their documents. ``tenant`` (everyone in the tenant) for what
was there before; a chat channel's history from a private channel is shown only in that channel.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("collections", sa.Column("audience", sa.String(length=200), server_default="tenant", nullable=False))


def downgrade() -> None:
    op.drop_column("collections", "audience")
