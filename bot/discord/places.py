"""Where a Discord message or command lives, as Threadwise keys conversations and channel settings."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.discord.deps import Place


def place_of(channel: Any, channel_id: int | None) -> Place:
    """A thread is its own conversation inside its parent channel (whose settings apply); elsewhere the channel
    is the conversation."""
    if isinstance(channel, discord.Thread) and channel.parent_id is not None:
        return Place(channel=str(channel.parent_id), thread=str(channel.id))
    return Place(channel=str(channel_id if channel_id is not None else getattr(channel, "id", "")))


def guild_id_of(message: discord.Message) -> int | None:
    """The message's server, also when the server is not cached yet (then only its channel knows the id)."""
    if message.guild is not None:
        return message.guild.id
    guild_id: int | None = getattr(message.channel, "guild_id", None)
    return guild_id


def question_text(content: str, bot_id: int) -> str:
    """The message without the bot's own mention (``<@id>`` or ``<@!id>``), whitespace collapsed."""
    return " ".join(re.sub(rf"<@!?{bot_id}>", " ", content or "").split())
