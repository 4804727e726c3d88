"""Checks of the database a Threadwise process depends on, shared by ``/readyz`` and ``threadwise doctor``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.schema import UPGRADE_HINT, migration_problem

MIN_PGVECTOR = (0, 7, 0)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def describe_connection_error(error: BaseException) -> str:
    """One line for an operator: what failed, without a traceback or credentials."""
    if isinstance(error, TimeoutError):
        return "timed out connecting to the database"
    original = getattr(error, "orig", None) or error
    message = str(original).strip().splitlines()[0] if str(original).strip() else ""
    name = type(original).__name__
    return (
        f"cannot connect to the database: {name}: {message}" if message else f"cannot connect to the database: {name}"
    )


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


async def _pgvector_check(connection: AsyncConnection) -> Check:
    installed = await connection.scalar(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
    if installed is None:
        available = await connection.scalar(
            text("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
        )
        if available is None:
            return Check("pgvector", False, "the pgvector extension is not installed on this PostgreSQL server")
        return Check("pgvector", False, f"pgvector {available} is available but not enabled; {UPGRADE_HINT}")
    if _version_tuple(installed) < MIN_PGVECTOR:
        minimum = ".".join(map(str, MIN_PGVECTOR))
        return Check("pgvector", False, f"pgvector {installed} is too old; Threadwise needs {minimum} or newer")
    return Check("pgvector", True, f"pgvector {installed}")


async def database_checks(engine: AsyncEngine, *, timeout: float = 5.0) -> list[Check]:  # noqa: ASYNC109
    """Reachable, pgvector present and recent, migrations at head; stops at the first failure that blocks the rest."""
    try:
        async with asyncio.timeout(timeout), engine.connect() as connection:
            version = await connection.scalar(text("SHOW server_version"))
            checks = [Check("database", True, f"PostgreSQL {version}")]
            checks.append(await _pgvector_check(connection))
            problem = await migration_problem(connection)
            checks.append(Check("migrations", problem is None, problem or "at head"))
            return checks
    except Exception as error:  # any failure to reach the database is reported, never raised
        return [Check("database", False, describe_connection_error(error))]
