"""A database that fails part-way through writing, as a full disk or a killed connection would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@asynccontextmanager
async def chunks_refused_when_they_mention(engine: AsyncEngine, word: str) -> AsyncIterator[None]:
    """While inside, a trigger rejects every chunk whose text holds ``word`` (a plain word: it is put in SQL)."""
    assert word.isalnum()
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE OR REPLACE FUNCTION fail_on_word() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN IF NEW.content LIKE '%{word}%' THEN RAISE EXCEPTION 'simulated crash'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        await connection.execute(
            text("CREATE TRIGGER refuse_word BEFORE INSERT ON chunks FOR EACH ROW EXECUTE FUNCTION fail_on_word()")
        )
    try:
        yield
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("DROP TRIGGER refuse_word ON chunks"))
