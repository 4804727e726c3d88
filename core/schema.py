"""Alembic, driven from code: where the migrations are, which revision a database is at, and upgrades."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

if TYPE_CHECKING:  # Alembic is imported only when a database is not at HEAD or is migrated (0.17 s at start)
    from alembic.config import Config
    from alembic.script import ScriptDirectory

UPGRADE_HINT = "run `threadwise db upgrade`"
HEAD = "0020"
"""The newest migration. Every command checks the database against it before it starts, and this check must stay
cheap (a one-shot ``threadwise ask``); ``tests/integration/test_migrations.py`` keeps it equal to Alembic's head."""


class DatabaseNotMigratedError(RuntimeError):
    """The database schema is not at the revision this code expects."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at our migrations; with ``connection``, migrations run on it."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("migrations")))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revisions() -> set[str]:
    return set(_script_directory().get_heads())


def known_revisions() -> set[str]:
    return {script.revision for script in _script_directory().walk_revisions()}


async def current_revisions(connection: AsyncConnection) -> set[str]:
    """The revisions recorded in the database; empty before the first migration."""
    if await connection.scalar(text("SELECT to_regclass('alembic_version')")) is None:
        return set()
    rows = await connection.scalars(text("SELECT version_num FROM alembic_version"))
    return set(rows)


async def migration_problem(connection: AsyncConnection) -> str | None:
    """None when the database is at head, else a sentence that says what to run."""
    current = await current_revisions(connection)
    if current == {HEAD}:
        return None
    heads = head_revisions()
    if current == heads:
        return None
    if not current:
        return f"the database has no Threadwise schema yet; {UPGRADE_HINT}"
    if not current <= known_revisions():
        return (
            f"the database is at revision {', '.join(sorted(current))}, which this version of Threadwise "
            "does not know (was it migrated by a newer release?)"
        )
    return (
        f"the database is at revision {', '.join(sorted(current))}, expected {', '.join(sorted(heads))}; {UPGRADE_HINT}"
    )


async def ensure_migrated(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        problem = await migration_problem(connection)
    if problem is not None:
        raise DatabaseNotMigratedError(problem)


async def run_migrations(engine: AsyncEngine, direction: Literal["upgrade", "downgrade"], revision: str) -> None:
    """Upgrade or downgrade in one transaction (PostgreSQL has transactional DDL)."""

    from alembic import command

    def run(sync_connection: Connection) -> None:
        config = alembic_config(sync_connection)
        if direction == "upgrade":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)
