"""The limits' tables, written and read by ``bot.limits`` only."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Integer, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class RateLimitWindow(Base):
    """Questions counted under one key (a user or a channel) in one minute; old windows are pruned."""

    __tablename__ = "rate_limit_windows"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class AnswerLease(Base):
    """One of a tenant's slots for answers at once, held by one answer until it ends or the lease expires."""

    __tablename__ = "answer_leases"

    tenant: Mapped[str] = mapped_column(Text, primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[uuid.UUID] = mapped_column(Uuid)
    """Drawn by each acquisition: a late release or renewal never touches a lease someone else took over."""
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
