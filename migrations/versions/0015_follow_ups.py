"""Follow-ups without a mention: each channel's choice of who may ask them (``follow_ups``), and the threads the bot
answered in, with who asked there and whether people have talked among themselves since.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "channel_settings", sa.Column("follow_ups", sa.String(length=16), server_default="asker", nullable=False)
    )
    op.create_check_constraint(
        "ck_channel_settings_follow_ups", "channel_settings", "follow_ups IN ('asker', 'anyone', 'off')"
    )
    op.create_table(
        "answered_threads",
        sa.Column("tenant", sa.String(length=200), primary_key=True),
        sa.Column("platform", sa.String(length=32), primary_key=True),
        sa.Column("channel", sa.String(length=200), primary_key=True),
        sa.Column("thread", sa.String(length=200), primary_key=True),
        sa.Column("asker", sa.String(length=200), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("others_since", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_index("ix_answered_threads_answered_at", "answered_threads", ["answered_at"])


def downgrade() -> None:
    op.drop_index("ix_answered_threads_answered_at", table_name="answered_threads")
    op.drop_table("answered_threads")
    op.drop_constraint("ck_channel_settings_follow_ups", "channel_settings", type_="check")
    op.drop_column("channel_settings", "follow_ups")
