"""The ``discord`` source kind: the threads of a forum (or text) channel, each thread one document.

A forum post is a question and its replies are the answers people gave: worth finding when the same question comes
again. The source reads one channel of one server through Discord's REST API with the bot's own token
(``DISCORD_BOT_TOKEN``, so a source stores no secret), ``/learn on`` in Discord (``cogs/learn.py``) or
``threadwise sources add discord`` adds it, and the worker's schedule syncs it.

Listing costs a few requests whatever the size of the channel: the server's active threads (one request, filtered
to the channel) and the channel's archived public threads, most recently archived first, paged until they are
older than ``days``. A thread's version is its last message id and its message count, both in the listing, so an
unchanged thread is not read at all; a changed one is read whole, oldest message first (an edit to an older
message is picked up with the thread's next reply). A question nobody replied to is not learned until someone does
(Threadwise's own answers do not count), and private threads are never read: they are not the channel's.

Discord shows a bot the text of messages only with the privileged Message Content intent; without it the messages
that do not mention the bot come back empty. The run checks the application's flags first and, should messages
still come back empty, fails rather than index empty threads.

Who may see what was learned follows who may see the channel: when @everyone may view it the threads are the
tenant's (any channel of the server may be answered from them); otherwise only questions asked in that channel are.
The audience is worked out again at every run, so a channel made private since fails its run (its collection is
shown to the whole server) until ``/learn on`` moves it to a collection of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from discord.utils import snowflake_time
from pydantic import BaseModel, ConfigDict, Field

from bot.discord.history_api import (
    INTENT_MISSING,
    PAGE,
    DiscordRest,
    Missing,
    everyone_can_view,
    reads_message_content,
)
from bot.discord.history_text import hides_content, jump_url, thread_document, written_messages
from core.logging import get_logger
from core.settings import DiscordSettings
from knowledge.audience import TENANT_WIDE, channel_audience
from knowledge.sources.connectors import ConnectorKind, RunContext
from knowledge.sources.protocol import ConnectorError, Fetched, Gone, ItemRef, NotModified

log = get_logger(__name__)

KIND = "discord"
SHARED_COLLECTION = "discord-history"
"""Where the threads of the channels everyone in a server may see go (a channel's own: ``discord-history-<id>``)."""
LEARNABLE_CHANNEL_TYPES = frozenset({0, 5, 15, 16})
"""Text, announcement, forum and media channels: the ones with threads."""
PUBLIC_THREAD_TYPES = frozenset({10, 11})
"""Threads of an announcement channel and public threads (forum posts are these); private threads (12) are not."""


class DiscordHistorySettings(BaseModel):
    """A Discord history source's settings, as stored on the source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    guild: int = Field(gt=0)
    """The server's id."""
    channel: int = Field(gt=0)
    """The forum (or text) channel whose threads are read."""
    days: int = Field(default=365, ge=1, le=3650)
    """Threads with activity in this many days; older ones leave the collection."""
    max_threads: int = Field(default=1000, ge=1, le=10_000)
    """The most recently active threads kept, at most."""
    max_messages: int = Field(default=500, ge=1, le=10_000)
    """Messages read per thread, from its start."""


async def audience_of_channel(rest: DiscordRest, *, guild: int, channel: int) -> str:
    """Who may be shown the channel's threads: the tenant when @everyone may view it, else the channel's members.
    A ``ConnectorError`` when it is not a channel of ``guild`` whose threads can be learned from."""
    try:
        found = await rest.channel(channel)
    except Missing:
        raise ConnectorError(
            f"channel {channel} no longer exists, or the bot cannot see it (was it removed from the server?)"
        ) from None
    if str(found.get("guild_id")) != str(guild):
        raise ConnectorError(f"channel {channel} is not in server {guild}")
    if found.get("type") not in LEARNABLE_CHANNEL_TYPES:
        raise ConnectorError(f"channel {channel} has no threads to learn from: choose a forum or a text channel")
    if everyone_can_view(found, await rest.everyone_permissions(guild)):
        return TENANT_WIDE
    return channel_audience("discord", str(channel))


def source_name(channel_id: int) -> str:
    """The name a channel's source has, whether added by ``/learn on`` or the command line."""
    return f"discord-{channel_id}"


def collection_for(audience: str, channel_id: int) -> str:
    """The server-wide collection for a channel everyone may see; one of the channel's own otherwise."""
    return SHARED_COLLECTION if audience == TENANT_WIDE else own_collection(channel_id)


def own_collection(channel_id: int) -> str:
    """The collection of a channel that not everyone may see, searched only from that channel."""
    return f"{SHARED_COLLECTION}-{channel_id}"


class DiscordHistoryConnector:
    kind = KIND

    def __init__(
        self,
        settings: DiscordHistorySettings,
        *,
        discord: DiscordSettings,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._discord = discord
        self._now = now
        self._rest: DiscordRest | None = None
        self._listed: dict[str, Mapping[str, Any]] = {}
        """Thread id → the thread as the listing gave it, for ``fetch``."""

    async def aclose(self) -> None:
        if self._rest is not None:
            await self._rest.aclose()
            self._rest = None

    async def items(self) -> AsyncIterator[ItemRef]:
        rest = await self._open()
        if not reads_message_content(await rest.application_flags()):
            raise ConnectorError(INTENT_MISSING)
        guild, channel = self.settings.guild, self.settings.channel
        audience = await audience_of_channel(rest, guild=guild, channel=channel)
        for thread in await self._recent_threads(rest):
            key = str(thread["id"])
            self._listed[key] = thread
            yield ItemRef(
                key=key,
                url=jump_url(guild, key),
                version=thread_version(thread),
                title=str(thread.get("name") or ""),
                audience=audience,
            )

    async def fetch(self, item: ItemRef, known_version: str | None) -> Fetched | NotModified | Gone:
        thread = self._listed.get(item.key)
        if thread is None:  # only listed items are fetched
            raise ConnectorError(f"thread {item.key} was not listed in this run")
        messages = await self._messages(await self._open(), int(item.key))
        if messages is None:
            return Gone()  # deleted since the listing
        if any(hides_content(message) for message in written_messages(messages)):
            raise ConnectorError(INTENT_MISSING)
        document = thread_document(thread=thread, messages=messages, guild_id=self.settings.guild)
        if document is None:
            return Gone()  # no reply but bots': nothing to learn yet
        return Fetched(document=document, version=item.version or thread_version(thread))

    async def _open(self) -> DiscordRest:
        if self._rest is None:
            self._rest = await DiscordRest.login(self._discord)
        return self._rest

    async def _recent_threads(self, rest: DiscordRest) -> list[Mapping[str, Any]]:
        """The channel's public threads with replies and with activity since ``days`` ago, the most recent first,
        capped."""
        cutoff = self._now() - timedelta(days=self.settings.days)
        channel = str(self.settings.channel)
        found: dict[str, Mapping[str, Any]] = {}

        def keep(thread: Mapping[str, Any]) -> None:
            in_channel = str(thread.get("parent_id")) == channel and thread.get("type") in PUBLIC_THREAD_TYPES
            answered = int(thread.get("message_count") or 0) > 0  # a question nobody replied to teaches nothing
            if in_channel and answered and last_activity(thread) >= cutoff:
                found.setdefault(str(thread["id"]), thread)

        for thread in await rest.active_threads(self.settings.guild):
            keep(thread)
        active = len(found)
        before: str | None = None
        # Until the archived ones alone fill the cap (an archived thread may be more recent than an active one).
        for _ in range(self.settings.max_threads // PAGE + 2):  # a bound whatever the pages say
            if len(found) - active >= self.settings.max_threads:
                break
            page, more = await rest.archived_threads(self.settings.channel, before=before)
            for thread in page:
                keep(thread)
            # Pages come most recently archived first; a thread's last message is older than its archiving.
            oldest = str((page[-1].get("thread_metadata") or {}).get("archive_timestamp") or "") if page else ""
            if not more or not oldest or oldest == before or datetime.fromisoformat(oldest) < cutoff:
                break  # the last page, one that does not move on (asking again would loop), or past ``days``
            before = oldest
        recent = sorted(found.values(), key=_last_message_id, reverse=True)
        if len(recent) > self.settings.max_threads:
            log.info("discord_threads_capped", channel=channel, found=len(recent), kept=self.settings.max_threads)
        return recent[: self.settings.max_threads]

    async def _messages(self, rest: DiscordRest, thread_id: int) -> list[dict[str, Any]] | None:
        """The thread's first ``max_messages`` messages, oldest first; None when the thread is gone."""
        messages: list[dict[str, Any]] = []
        after = 0
        while len(messages) < self.settings.max_messages:
            wanted = min(100, self.settings.max_messages - len(messages))
            page = await rest.messages_after(thread_id, after, limit=wanted)
            if page is None:
                return None
            messages.extend(page)
            if len(page) < wanted:
                break
            after = int(page[-1]["id"])
        return messages


def thread_version(thread: Mapping[str, Any]) -> str:
    """Changes when a message is posted or deleted (the last message id, the count), not when one is edited."""
    return f"{thread.get('last_message_id') or thread['id']}:{thread.get('message_count') or 0}"


def last_activity(thread: Mapping[str, Any]) -> datetime:
    """When the thread's last message was posted (its creation, before any): Discord's ids hold their time."""
    return snowflake_time(_last_message_id(thread))


def _last_message_id(thread: Mapping[str, Any]) -> int:
    """Orders threads by their last message (ids sort as they were made, also within a millisecond)."""
    return int(thread.get("last_message_id") or thread["id"])


def discord_history_kind(discord: DiscordSettings) -> ConnectorKind:
    """The kind as a deployment with a Discord bot offers it: every run reads with that bot's token."""

    def build(settings: DiscordHistorySettings, context: RunContext) -> DiscordHistoryConnector:
        return DiscordHistoryConnector(settings, discord=discord)

    return ConnectorKind(kind=KIND, settings=DiscordHistorySettings, build=build)
