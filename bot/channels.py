"""Per-channel settings chosen by admins (``/threadwise mode``, ``/threadwise collections``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import ChannelSettings
from core.db import session_scope
from core.keyed_locks import KeyedLocks

ReplyMode = Literal["mention", "auto", "off"]
REPLY_MODES: tuple[ReplyMode, ...] = ("mention", "auto", "off")
AddressedMode = Literal["mention", "off"]
"""The modes of a platform that only sees messages addressed to the bot (Discord without the privileged
message-content intent): ``auto`` would need to read every message. A subset of ``ReplyMode``."""


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    mode: ReplyMode = "mention"
    collections: list[str] | None = None


class ChannelSettingsStore:
    """Reads are cached for ``ttl`` seconds: every incoming event asks, and settings change rarely (another
    process's change shows up within the TTL; this process's own at once). Events of one channel that arrive
    together while its settings are being read share that one read."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, ttl: float = 10.0) -> None:
        self.sessionmaker = sessionmaker
        self.ttl = ttl
        self._cache: dict[tuple[str, str, str], tuple[float, ChannelChoice]] = {}
        self._reading = KeyedLocks()
        self.reads = 0
        """Reads from the database so far (for tests)."""

    async def get(self, *, tenant: str, platform: str, channel: str) -> ChannelChoice:
        key = (tenant, platform, channel)
        if (choice := self._cached(key)) is not None:
            return choice
        async with self._reading.hold(key):  # the first event reads; those queued behind it find the cache
            if (choice := self._cached(key)) is not None:
                return choice
            self.reads += 1
            choice = await self._read(tenant=tenant, platform=platform, channel=channel)
            if len(self._cache) > 10_000:  # bounded: forget everything rather than grow without end
                self._cache.clear()
            self._cache[key] = (time.monotonic(), choice)
            return choice

    def _cached(self, key: tuple[str, str, str]) -> ChannelChoice | None:
        cached = self._cache.get(key)
        return cached[1] if cached is not None and time.monotonic() - cached[0] < self.ttl else None

    async def _read(self, *, tenant: str, platform: str, channel: str) -> ChannelChoice:
        async with session_scope(self.sessionmaker) as session:
            row = (
                await session.execute(
                    select(ChannelSettings.mode, ChannelSettings.collections).where(
                        ChannelSettings.tenant == tenant,
                        ChannelSettings.platform == platform,
                        ChannelSettings.channel == channel,
                    )
                )
            ).first()
        if row is None:
            return ChannelChoice()
        mode: ReplyMode = row.mode if row.mode in REPLY_MODES else "mention"
        return ChannelChoice(mode=mode, collections=list(row.collections) if row.collections else None)

    async def update(
        self,
        *,
        tenant: str,
        platform: str,
        channel: str,
        by: str,
        mode: ReplyMode | None = None,
        collections: list[str] | None = None,
        clear_collections: bool = False,
    ) -> None:
        values: dict[str, object] = {"updated_by": by, "updated_at": func.now()}
        if mode is not None:
            values["mode"] = mode
        if collections is not None or clear_collections:
            values["collections"] = collections or None
        self._cache.pop((tenant, platform, channel), None)
        async with session_scope(self.sessionmaker) as session:
            statement = insert(ChannelSettings).values(tenant=tenant, platform=platform, channel=channel, **values)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[ChannelSettings.tenant, ChannelSettings.platform, ChannelSettings.channel],
                    set_=values,
                )
            )


def _collection_names(text: str) -> list[str]:
    return [name.strip() for name in text.replace(" ", ",").split(",") if name.strip()]


async def change_collections(
    store: ChannelSettingsStore, *, tenant: str, platform: str, channel: str, by: str, names: str
) -> str:
    """``/threadwise collections`` on any platform; returns the reply. Nothing shows the channel's choice, ``all``
    (any case) clears it, otherwise the comma- or space-separated names replace it."""
    chosen = _collection_names(names)
    if not chosen:
        current = await store.get(tenant=tenant, platform=platform, channel=channel)
        shown = ", ".join(current.collections) if current.collections else "all collections"
        return f"This channel searches {shown}. Use `/threadwise collections name,name` or `all`."
    if [name.lower() for name in chosen] == ["all"]:
        await store.update(tenant=tenant, platform=platform, channel=channel, by=by, clear_collections=True)
        return "This channel now searches all collections."
    await store.update(tenant=tenant, platform=platform, channel=channel, by=by, collections=chosen)
    return f"This channel now searches {', '.join(chosen)}."
