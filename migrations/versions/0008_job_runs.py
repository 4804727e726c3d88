"""Count every run of an event's job, takeovers after a crashed worker included (pgqueuer counts only retries
after an error), so a question whose job kills every worker that takes it is given up with an apology.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("processed_events", sa.Column("runs", sa.SmallInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("processed_events", "runs")
