"""Discord forums: each channel's choice of whether new posts in it are answered as questions (``answer_posts``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("channel_settings", sa.Column("answer_posts", sa.Boolean(), server_default="false", nullable=False))


def downgrade() -> None:
    op.drop_column("channel_settings", "answer_posts")
