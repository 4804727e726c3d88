"""pgqueuer's driver for a queue whose statements and LISTEN take different roads.

Behind a pooler in transaction mode (PgBouncer) a LISTEN lasts only as long as its transaction: the server
connection then serves other clients and the notifications are lost. Statements go through the pooler; the
LISTEN goes to PostgreSQL directly (``DATABASE_LISTEN_URL``), or nowhere, and workers poll for new questions.
"""

from __future__ import annotations

from typing import Any, Self

from pgqueuer.db import AsyncpgPoolDriver
from pgqueuer.ports.driver import NotifyCallback


class ListenApartDriver(AsyncpgPoolDriver):
    """Statements on ``pool``; LISTEN on ``listen`` (a pool of direct connections), or none when it is None."""

    def __init__(self, pool: Any, listen: Any | None) -> None:
        super().__init__(pool)
        self._listen = None if listen is None else AsyncpgPoolDriver(listen)

    async def add_listener(self, channel: str, callback: NotifyCallback) -> None:
        if self._listen is not None:
            await self._listen.add_listener(channel, callback)

    async def remove_listener(self, channel: str, callback: NotifyCallback) -> None:
        if self._listen is not None:
            await self._listen.remove_listener(channel, callback)

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        if self._listen is not None:
            await self._listen.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._listen is not None:
                await self._listen.__aexit__(*exc)
        finally:
            await super().__aexit__(*exc)
