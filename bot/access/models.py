"""The ``api_keys`` table: per-tenant keys for the HTTP API and the dashboard, owned by ``bot.access``.

Only a SHA-256 of each key is kept: keys are 256-bit random secrets, so a plain hash is enough (no slow hash
needed against guessing), and a leaked table gives no working key. The prefix identifies a key in lists and
logs and finds its row before the constant-time comparison of hashes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("scope IN ('ask', 'admin')", name="scope"), Index(None, "tenant"))

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    """The key's first characters after ``tw_``: shown to identify it, never enough to use it."""
    secret_hash: Mapped[str] = mapped_column(String(64))
    """Hex SHA-256 of the whole key."""
    tenant: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(16))
    """ask: the API (ask and vote); admin: also the dashboard of its tenant."""
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Updated at most once a minute, so that using a key is not a write per request."""
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
