"""Remember the message a job shows its answer in while writing it (Slack's placeholder), so that a job retaken
after a crash edits that message instead of posting a second answer.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("processed_events", sa.Column("placeholder_id", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("processed_events", "placeholder_id")
