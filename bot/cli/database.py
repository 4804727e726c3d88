"""``threadwise db upgrade|downgrade``."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from bot.cli.app import cli_settings, database_url, db_app, out, run_async


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    _migrate("upgrade", revision)


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")]) -> None:
    """Revert migrations down to REVISION."""
    _migrate("downgrade", revision)


def _migrate(direction: Literal["upgrade", "downgrade"], revision: str) -> None:
    from core.db import create_engine
    from core.schema import current_revisions, run_migrations

    settings = cli_settings()
    url = database_url(settings)

    async def migrate() -> set[str]:
        engine = create_engine(url, role="migrate", database=settings.database)
        try:
            await run_migrations(engine, direction, revision)
            async with engine.connect() as connection:
                return await current_revisions(connection)
        finally:
            await engine.dispose()

    now = run_async(migrate())
    out.print(f"Database at revision {', '.join(sorted(now)) or 'base (empty)'}.")
