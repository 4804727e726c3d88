"""``/learn on|off|status``: a server manager chooses the forum (or text) channels whose threads Threadwise learns.

``on`` adds the channel's source (``discord-<channel id>``, of the ``discord`` kind: ``bot/discord/history.py``),
which the worker syncs every 6 hours, or resumes it when it was paused. ``off`` removes the source with everything
learned from it: leaving a channel out should mean its threads are no longer quoted, not merely no longer updated.

Who may be shown what is learned follows who may see the channel, decided here as the connector decides it at every
run: a channel @everyone may view goes to the server-wide collection ``discord-history``, any other channel to a
collection of its own, searched only from that channel. When that changes (a channel made private), ``on`` moves
the source to the right collection.

Like ``/threadwise``, the commands are hidden from members without Manage Server, and checked here too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import escape_markdown, escape_mentions, format_dt

from bot.discord.bot import ThreadwiseBot, threadwise_bot
from bot.discord.history import (
    KIND,
    SHARED_COLLECTION,
    DiscordHistorySettings,
    audience_of_channel,
    collection_for,
    own_collection,
    source_name,
)
from bot.discord.history_api import DiscordRest, reads_message_content
from bot.discord.managers import server_managers_only
from knowledge.audience import TENANT_WIDE
from knowledge.errors import KnowledgeError
from knowledge.sources.protocol import ConnectorError
from knowledge.sources.service import Sources, SourceStatus
from knowledge.sources.sync import SourceBusy

LEARN_EVERY_SECONDS = 6 * 3600
REFUSED = "Only members who can manage this server can choose the channels Threadwise learns from."
UNAVAILABLE = "Learning from channels is not available in this deployment of Threadwise."
NOT_A_CHANNEL = "Use this in a forum or text channel (or one of its threads), or name one with `channel:`."
INTENT_WARNING = (
    "⚠️ Discord hides the text of messages from this bot, so its syncs will fail: turn on **Message Content "
    "Intent** in the Discord Developer Portal (your application → **Bot**)."
)
DEFAULT_DAYS = DiscordHistorySettings.model_fields["days"].default
MAX_REPLY = 1900
"""Within Discord's 2,000 characters a message."""

LearnableChannel = discord.TextChannel | discord.ForumChannel
_Work = Callable[[Sources, int, int], Awaitable[str]]
"""What ``on`` and ``off`` do once the server and the channel are known; returns the member's answer."""


def _escaped(text: str) -> str:
    return escape_mentions(escape_markdown(text))


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Learn(
    commands.GroupCog, group_name="learn", group_description="Learn from the threads of forum and text channels."
):
    def __init__(self, bot: ThreadwiseBot) -> None:
        self.bot = bot
        self.deps = bot.deps
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await server_managers_only(interaction, REFUSED)

    @app_commands.command(name="on", description="Learn from a channel's threads (forum posts), synced every 6 hours.")
    @app_commands.describe(channel="A forum or text channel (default: this one)")
    async def on(self, interaction: discord.Interaction, channel: LearnableChannel | None = None) -> None:
        await self._answer(interaction, channel, self._learn)

    @app_commands.command(name="off", description="Stop learning from a channel and forget what was learned from it.")
    @app_commands.describe(channel="A forum or text channel (default: this one)")
    async def off(self, interaction: discord.Interaction, channel: LearnableChannel | None = None) -> None:
        await self._answer(interaction, channel, self._forget)

    @app_commands.command(name="status", description="The channels Threadwise learns from, and how their syncs went.")
    async def status(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        sources = self.deps.sources
        text = UNAVAILABLE if sources is None else await self._status(sources, interaction.guild_id or 0)
        await interaction.followup.send(text[:MAX_REPLY], ephemeral=True)

    async def _answer(self, interaction: discord.Interaction, channel: LearnableChannel | None, work: _Work) -> None:
        """Acknowledged at once (the database and Discord are asked next), then answered only to the member."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel_id = _chosen_channel(interaction, channel)
        sources = self.deps.sources
        if sources is None:
            text = UNAVAILABLE
        elif channel_id is None or interaction.guild_id is None:
            text = NOT_A_CHANNEL
        else:
            try:
                text = await work(sources, interaction.guild_id, channel_id)
            except SourceBusy:
                text = f"<#{channel_id}> is being synced right now; try again in a few minutes."
            except (ConnectorError, KnowledgeError) as error:
                text = f"Nothing changed for <#{channel_id}>: {_escaped(str(error))}."
        await interaction.followup.send(text[:MAX_REPLY], ephemeral=True)

    async def _learn(self, sources: Sources, guild_id: int, channel_id: int) -> str:
        rest = DiscordRest(self.bot.http)  # the bot's own client: its rate limits are shared
        audience = await audience_of_channel(rest, guild=guild_id, channel=channel_id)
        tenant = self.deps.tenant_of(guild_id)
        name, collection = source_name(channel_id), collection_for(audience, channel_id)
        existing = await _find(sources, tenant, name)
        # Ours to move when who may see the channel changed; one added elsewhere into a named collection is left be.
        movable = {SHARED_COLLECTION, own_collection(channel_id)} - {collection}
        if existing is not None and existing.collection not in movable:
            lead = f"Already learning from <#{channel_id}> (into `{_escaped(existing.collection)}`)."
            if existing.paused:
                await sources.pause(tenant=tenant, name=name, paused=False)
                lead = f"Learning from <#{channel_id}> again (into `{_escaped(existing.collection)}`)."
        else:
            if existing is not None:  # what was learned moves with who may see it
                await sources.remove(tenant=tenant, name=name)
            settings = {"guild": guild_id, "channel": channel_id}  # the rest at their defaults, as they evolve
            await sources.add(
                tenant=tenant,
                name=name,
                kind=KIND,
                collection=collection,
                settings=settings,
                every_seconds=LEARN_EVERY_SECONDS,
                audience=audience,
            )
            lead = (
                f"Learning from <#{channel_id}>: its threads of the last {DEFAULT_DAYS} days are read every 6 hours "
                f"(the first time within a few minutes) into the collection `{_escaped(collection)}`."
            )
        who = (
            "Everyone here can see that channel, so questions anywhere in this server may be answered from it."
            if audience == TENANT_WIDE
            else "Not everyone here can see that channel, so only questions asked in it are answered from it."
        )
        lines = [lead, who, "`/learn off` stops and forgets what was learned from it."]
        if not reads_message_content(await rest.application_flags()):
            lines.append(INTENT_WARNING)
        return "\n".join(lines)

    async def _forget(self, sources: Sources, guild_id: int, channel_id: int) -> str:
        tenant, name = self.deps.tenant_of(guild_id), source_name(channel_id)
        if await _find(sources, tenant, name) is None:
            return f"Threadwise is not learning from <#{channel_id}>."
        removed = await sources.remove(tenant=tenant, name=name)
        threads = "thread" if removed == 1 else "threads"
        return f"Stopped learning from <#{channel_id}>, and forgot the {removed} {threads} learned from it."

    async def _status(self, sources: Sources, guild_id: int) -> str:
        learning = [
            status
            for status in await sources.statuses(tenant=self.deps.tenant_of(guild_id))
            if status.kind == KIND and str(status.settings.get("guild")) == str(guild_id)
        ]
        if not learning:
            return "Threadwise learns from no channel here yet: `/learn on` in a forum or text channel starts."
        lines = []
        for status in learning:
            state = "paused" if status.paused else status.state
            synced = format_dt(status.last_success_at, "R") if status.last_success_at else "never"
            line = f"<#{status.settings.get('channel')}>: {state}, {status.items} threads, last synced {synced}"
            if status.last_error:
                line += f"\n  last error: {_escaped(status.last_error)}"
            lines.append(line)
        return "\n".join(lines)


def _chosen_channel(interaction: discord.Interaction, channel: LearnableChannel | None) -> int | None:
    """The channel named, else the one the command is used in (a thread's parent: its threads are siblings)."""
    if channel is not None:
        return channel.id
    here = interaction.channel
    if isinstance(here, discord.Thread):
        return here.parent_id
    if isinstance(here, LearnableChannel):
        return here.id
    return None


async def _find(sources: Sources, tenant: str, name: str) -> SourceStatus | None:
    return next((status for status in await sources.statuses(tenant=tenant) if status.name == name), None)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Learn(threadwise_bot(bot)))
