"""What the limits run their statements on: the worker's asyncpg pool as it is, or the web app's SQLAlchemy engine
through :class:`EngineDatabase`. One SQL dialect (asyncpg's ``$1``) for both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine


class Database(Protocol):
    """The two calls of an ``asyncpg.Pool`` the limits use; each statement commits on its own."""

    async def fetchrow(self, query: str, *args: object) -> Mapping[str, Any] | None: ...

    async def execute(self, query: str, *args: object) -> str: ...


class EngineDatabase:
    """An engine's pooled connections used as asyncpg ones, outside SQLAlchemy's transactions: each statement is
    a single round trip that commits by itself, as on the worker's pool."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def fetchrow(self, query: str, *args: object) -> Mapping[str, Any] | None:
        async with self.engine.connect() as connection:
            raw: Any = (await connection.get_raw_connection()).driver_connection
            row: Mapping[str, Any] | None = await raw.fetchrow(query, *args)
            return row

    async def execute(self, query: str, *args: object) -> str:
        async with self.engine.connect() as connection:
            raw: Any = (await connection.get_raw_connection()).driver_connection
            status: str = await raw.execute(query, *args)
            return status
