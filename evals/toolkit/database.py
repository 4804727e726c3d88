"""The database behind a measurement's sessions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import bound_engine


def engine_of(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine, for work that needs a connection of its own outside any transaction (``VACUUM``)."""
    engine = bound_engine(sessionmaker)
    if engine is None:
        raise TypeError("measurement needs a sessionmaker bound to an engine, not to one connection")
    return engine
