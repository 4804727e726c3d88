"""Alembic environment for Threadwise.

Run from code (``threadwise db upgrade``, tests) a connection arrives in ``config.attributes``; run from the
``alembic`` command line the URL comes from Threadwise's settings (``DATABASE_URL`` or the embedded server).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, text

from core.db import Base, create_engine, resolve_database_url
from core.settings import load_settings
from migrations.models import import_all_models

import_all_models()
target_metadata = Base.metadata

# Any fixed number shared by every replica: only one of them migrates at a time.
MIGRATION_LOCK_KEY = 0x7468_7277  # "thrw"


# Per-collection vector indexes are created at run time (see knowledge/vector_index.py), not by migrations.
RUNTIME_INDEX_PREFIXES = ("ix_chunks_embedding_c",)


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    if type_ == "index" and reflected and name is not None and name.startswith(RUNTIME_INDEX_PREFIXES):
        return False
    # Tables we do not model (e.g. ones a library manages itself) are not drift.
    return not (type_ == "table" and reflected and compare_to is None)


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


async def run_from_settings() -> None:
    settings = load_settings()
    url = await asyncio.to_thread(resolve_database_url, settings)
    engine = create_engine(url, role="migrate", database=settings.database)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Threadwise migrations run online only: `threadwise db upgrade`.")

shared_connection = context.config.attributes.get("connection")
if shared_connection is not None:
    run_migrations(shared_connection)
else:
    asyncio.run(run_from_settings())
