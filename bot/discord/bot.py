"""The discord.py bot: dependencies injected, cogs loaded as extensions, commands registered when they changed.

Default intents, plus the privileged Message Content intent when ``DISCORD_MESSAGE_CONTENT`` is set. Without it
Discord still shows the bot the messages that mention it (a reply that pings it among them) and its direct messages;
the text of every other message arrives empty, so follow-ups without a mention need it (``bot/follow_ups.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import discord
from discord.ext import commands

from bot.discord.deps import DiscordDeps
from bot.discord.sync import sync_if_changed
from core.logging import get_logger
from core.metrics import count_error
from core.sentry import report_failure
from core.settings import DiscordSettings

log = get_logger(__name__)

EXTENSIONS = (
    "bot.discord.cogs.questions",
    "bot.discord.cogs.commands",
    "bot.discord.cogs.admin",
    "bot.discord.cogs.learn",
    "bot.discord.cogs.reactions",
    "bot.discord.cogs.errors",
)


def intents(settings: DiscordSettings) -> discord.Intents:
    """Asking for an intent the Developer Portal has not switched on makes Discord close the connection (4014)."""
    chosen = discord.Intents.default()
    chosen.message_content = settings.message_content
    return chosen


class ThreadwiseBot(commands.Bot):
    def __init__(self, deps: DiscordDeps, settings: DiscordSettings, *, data_dir: Path, **options: object) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,  # no text commands: slash commands only
            help_command=None,
            intents=intents(settings),
            allowed_mentions=discord.AllowedMentions.none(),  # answers never ping anyone
            guild_ready_timeout=settings.guild_ready_timeout,
            **options,  # type: ignore[arg-type]
        )
        self.deps = deps
        self.settings = settings
        self.data_dir = data_dir

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await sync_if_changed(self, data_dir=self.data_dir, dev_guild_id=self.settings.dev_guild_id)

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: the questions cog handles messages (commands.Bot would parse them as commands)."""

    async def on_error(self, event_method: str, /, *args: object, **kwargs: object) -> None:
        """A listener failed (the database is down, say): reported, counted and logged with a reference id, as Slack's
        listeners are; the gateway carries on. discord.py calls this inside its ``except``, so the error is current."""
        error = sys.exc_info()[1]
        reference = report_failure(error) if error is not None else None
        count_error("discord_listener")
        log.exception("discord listener failed", listener=event_method, reference_id=reference)

    async def on_ready(self) -> None:
        shards = self.shard_count or 1
        log.info("discord gateway ready", user=str(self.user), guilds=len(self.guilds), shards=shards)


class ShardedThreadwiseBot(ThreadwiseBot, commands.AutoShardedBot):
    """The same bot over ``DISCORD_SHARD_COUNT`` shards, of which this process runs ``DISCORD_SHARD_IDS``."""


def create_bot(deps: DiscordDeps, settings: DiscordSettings, *, data_dir: Path) -> ThreadwiseBot:
    if settings.sharded:
        shard_ids = settings.shard_ids or None
        return ShardedThreadwiseBot(
            deps, settings, data_dir=data_dir, shard_count=settings.shard_count, shard_ids=shard_ids
        )
    return ThreadwiseBot(deps, settings, data_dir=data_dir)


def threadwise_bot(bot: commands.Bot) -> ThreadwiseBot:
    """The bot an extension is loaded into, with its dependencies (cogs' ``setup`` receive a plain Bot)."""
    if not isinstance(bot, ThreadwiseBot):
        raise TypeError("Threadwise's cogs need a ThreadwiseBot")
    return bot
