"""``threadwise doctor``'s check of how workers hear of new questions behind a transaction pooler."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.queue import asyncpg_dsn
from core.health import Check, describe_connection_error
from core.settings import Settings

NAME = "job notifications"
NOTIFY_TIMEOUT = 5.0


async def notifications_check(settings: Settings, url: URL, engine: AsyncEngine) -> Check | None:
    """None when workers LISTEN where they run their statements (no transaction pooler, no listen URL).

    With ``DATABASE_LISTEN_URL`` a NOTIFY is sent through ``DATABASE_URL`` and must arrive there: a listen URL on
    another server or database would leave every worker waiting for its poll."""
    database = settings.database
    if not database.pooled_per_transaction and database.listen_url is None:
        return None
    listen_url = database.listen_url_for(url)
    if listen_url is None:
        return Check(
            NAME,
            True,
            f"DATABASE_POOL_MODE=transaction without DATABASE_LISTEN_URL: workers look for new questions every "
            f"{settings.queue.poll_interval:g} s (set DATABASE_LISTEN_URL to wake them at once)",
        )
    try:
        listener = await asyncpg.connect(
            asyncpg_dsn(listen_url),
            timeout=database.connect_timeout,
            server_settings={"application_name": "threadwise-doctor"},
        )
    except Exception as error:  # reported, never raised
        return Check(NAME, False, f"DATABASE_LISTEN_URL: {describe_connection_error(error)}")
    try:
        heard = asyncio.Event()
        channel = f"threadwise_doctor_{secrets.token_hex(4)}"
        await listener.add_listener(channel, lambda *_: heard.set())
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_notify(:channel, 'doctor')"), {"channel": channel})
            await connection.commit()
        await asyncio.wait_for(heard.wait(), timeout=NOTIFY_TIMEOUT)
    except TimeoutError:
        return Check(
            NAME,
            False,
            "a notification sent through DATABASE_URL did not arrive on DATABASE_LISTEN_URL: it must reach the same "
            "PostgreSQL server and database, directly rather than through the pooler",
        )
    except Exception as error:
        return Check(NAME, False, f"DATABASE_LISTEN_URL: {describe_connection_error(error)}")
    finally:
        await listener.close()
    return Check(NAME, True, "workers LISTEN on DATABASE_LISTEN_URL; a notification through DATABASE_URL arrived")
