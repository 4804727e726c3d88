"""Per-channel settings chosen by admins (``/threadwise mode``, ``/threadwise collections``,
``/threadwise followups``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.follow_ups import FOLLOW_UP_MODES, FollowUpMode
from bot.models import ChannelSettings
from core.db import session_scope
from core.keyed_locks import KeyedLocks
from core.ttl_cache import TtlCache

ReplyMode = Literal["mention", "auto", "off"]
REPLY_MODES: tuple[ReplyMode, ...] = ("mention", "auto", "off")
AddressedMode = Literal["mention", "off"]
"""The modes of a platform that only sees messages addressed to the bot (Discord without the privileged
message-content intent): ``auto`` would need to read every message. A subset of ``ReplyMode``."""


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    mode: ReplyMode = "mention"
    collections: list[str] | None = None
    follow_ups: FollowUpMode = "asker"
    answer_posts: bool = False
    """A Discord forum's choice (``/threadwise forum``): each new post is a question."""


class ChannelSettingsStore:
    """Reads are cached for ``ttl`` seconds: every incoming event asks, and settings change rarely (another
    process's change shows up within the TTL; this process's own at once). Events of one channel that arrive
    together while its settings are being read share that one read."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, ttl: float = 10.0) -> None:
        self.sessionmaker = sessionmaker
        self.ttl = ttl
        self._cache: TtlCache[tuple[str, str, str], ChannelChoice] = TtlCache(ttl)
        self._reading = KeyedLocks()
        self.reads = 0
        """Reads from the database so far (for tests)."""

    async def get(self, *, tenant: str, platform: str, channel: str) -> ChannelChoice:
        key = (tenant, platform, channel)
        if (choice := self._cache.get(key)) is not None:
            return choice
        async with self._reading.hold(key):  # the first event reads; those queued behind it find the cache
            if (choice := self._cache.get(key)) is not None:
                return choice
            self.reads += 1
            choice = await self._read(tenant=tenant, platform=platform, channel=channel)
            self._cache.put(key, choice)
            return choice

    async def _read(self, *, tenant: str, platform: str, channel: str) -> ChannelChoice:
        async with session_scope(self.sessionmaker) as session:
            row = (
                await session.execute(
                    select(
                        ChannelSettings.mode,
                        ChannelSettings.collections,
                        ChannelSettings.follow_ups,
                        ChannelSettings.answer_posts,
                    ).where(
                        ChannelSettings.tenant == tenant,
                        ChannelSettings.platform == platform,
                        ChannelSettings.channel == channel,
                    )
                )
            ).first()
        if row is None:
            return ChannelChoice()
        mode: ReplyMode = row.mode if row.mode in REPLY_MODES else "mention"
        follow_ups: FollowUpMode = row.follow_ups if row.follow_ups in FOLLOW_UP_MODES else "asker"
        collections = list(row.collections) if row.collections else None
        return ChannelChoice(mode=mode, collections=collections, follow_ups=follow_ups, answer_posts=row.answer_posts)

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
        follow_ups: FollowUpMode | None = None,
        answer_posts: bool | None = None,
    ) -> None:
        values: dict[str, object] = {"updated_by": by, "updated_at": func.now()}
        if mode is not None:
            values["mode"] = mode
        if follow_ups is not None:
            values["follow_ups"] = follow_ups
        if answer_posts is not None:
            values["answer_posts"] = answer_posts
        if collections is not None or clear_collections:
            values["collections"] = collections or None
        self._cache.forget((tenant, platform, channel))
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


async def change_follow_ups(
    store: ChannelSettingsStore, *, tenant: str, platform: str, channel: str, by: str, choice: str
) -> str:
    """``/threadwise followups`` on any platform; returns the reply. Nothing (or an unknown word) shows the
    channel's choice."""
    chosen = choice.strip().lower()
    if chosen not in FOLLOW_UP_MODES:
        current = await store.get(tenant=tenant, platform=platform, channel=channel)
        return (
            f"Follow-ups here: `{current.follow_ups}`. Use `/threadwise followups asker|anyone|off` "
            "(asker: in a thread I answered, the person who asked can go on without mentioning me)."
        )
    mode: FollowUpMode = next(m for m in FOLLOW_UP_MODES if m == chosen)
    await store.update(tenant=tenant, platform=platform, channel=channel, by=by, follow_ups=mode)
    return {
        "asker": "Follow-ups set to `asker`: in a thread I answered, the person who asked can go on without a mention.",
        "anyone": "Follow-ups set to `anyone`: in a thread I answered, anyone can go on without a mention.",
        "off": "Follow-ups set to `off`: I answer only when mentioned.",
    }[mode]
