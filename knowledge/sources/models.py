"""Source tables: each source a collection is kept in step with, and the version of every item last synced."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base

SOURCE_STATES = ("idle", "running", "failed")


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("tenant", "name"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    """How people refer to it (``threadwise sources show NAME``); unique per tenant."""
    collection_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("collections.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    """What the connector needs (start URLs, a repository and branch…). Never a secret: a token is named by the
    environment variable that holds it."""
    every_seconds: Mapped[int | None] = mapped_column(Integer)
    """How often the worker syncs it; None: only on demand."""
    paused: Mapped[bool] = mapped_column(Boolean, server_default="false")
    state: Mapped[str] = mapped_column(String(20), server_default="idle")
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the run under way last noted it is alive (every minute): a run silent for long died with its process."""
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, server_default="0")
    """Runs failed in a row: a failing source is retried sooner than its schedule, then less and less often."""
    items: Mapped[int] = mapped_column(Integer, server_default="0")
    chunks: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SourceItem(Base):
    """An item as last synced: its version token and the document it became."""

    __tablename__ = "source_items"
    __table_args__ = (PrimaryKeyConstraint("source_id", "key"),)

    source_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sources.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(Text)
    source_uri: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(200), server_default="tenant")
