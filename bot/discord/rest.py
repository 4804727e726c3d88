"""A Discord client for REST only (no gateway): what a worker needs to deliver answers."""

from __future__ import annotations

import discord

from bot.discord.endpoints import apply_endpoints
from core.settings import DiscordSettings


async def create_rest_client(settings: DiscordSettings) -> discord.Client:
    """Logged in (the token is checked), never connected; close it with ``await client.close()``."""
    if settings.bot_token is None:
        raise ValueError("DISCORD_BOT_TOKEN is not set")
    apply_endpoints(settings)
    client = discord.Client(intents=discord.Intents.default(), allowed_mentions=discord.AllowedMentions.none())
    try:
        await client.login(settings.bot_token.get_secret_value())
    except BaseException:
        await client.close()
        raise
    return client
