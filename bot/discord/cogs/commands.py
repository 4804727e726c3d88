"""``/ask``, ``/forget`` and ``/help``. ``/ask`` is deferred at once (Discord allows 3 seconds), then queued like
a mention; a worker answers through the interaction's webhook, which stays valid for 15 minutes and needs no
gateway connection."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from agent.schemas import ConversationKey
from bot.discord.bot import ThreadwiseBot, threadwise_bot
from bot.discord.deliverer import UNKNOWN_INTERACTION
from bot.discord.places import place_of
from bot.events import ChatEvent, enqueue_question
from core.logging import get_logger

log = get_logger(__name__)

HELP = """**Threadwise** answers questions from your team's documents, with sources.
• `/ask question:<text>`, or @mention me in a channel or thread, or send me a direct message
• Reply to my answer, or go on in a thread I answered, to ask a follow-up without mentioning me
• `/forget`: forget this channel's conversation (the next question starts afresh)
• React 👍 or 👎 to an answer to tell us whether it helped
Server managers: `/threadwise mode mention|off`, `/threadwise collections <names>|all`,
`/threadwise followups asker|anyone|off` (this channel), `/threadwise forum on|off` (answer every new post in a forum),
`/learn on|off|status` (learn from this channel's threads, so that answers can quote what people answered)"""


class Commands(commands.Cog):
    def __init__(self, bot: ThreadwiseBot) -> None:
        self.bot = bot
        self.deps = bot.deps

    @app_commands.command(name="ask", description="Ask a question; the answer comes from your documents.")
    @app_commands.describe(question="What do you want to know?")
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        if not question.strip():  # nothing to ask: show how, as Slack's blank `/threadwise ask` does
            await interaction.response.send_message(HELP, ephemeral=True)
            return
        delivery = {
            "kind": "interaction",
            "application_id": str(interaction.application_id),
            "token": interaction.token,
            "channel_id": str(interaction.channel_id),
            "asked_by": str(interaction.user.id),
        }
        try:
            await interaction.response.defer(thinking=True)
        except discord.NotFound as error:
            if error.code != UNKNOWN_INTERACTION:
                raise
            # Too late to acknowledge (a slow start, a long pause): the answer goes to the channel instead.
            log.warning("discord interaction expired before it was acknowledged; answering in the channel")
            delivery["kind"] = "channel"
        tenant = self.deps.tenant_of(interaction.guild_id)
        place = place_of(interaction.channel, interaction.channel_id)
        collections = None
        if interaction.guild_id is not None:
            choice = await self.deps.channels.get(tenant=tenant, platform="discord", channel=place.channel)
            collections = choice.collections
        event = ChatEvent(
            platform="discord",
            event_id=f"interaction:{interaction.id}",
            tenant=tenant,
            channel=place.channel,
            thread=place.thread,
            user_id=str(interaction.user.id),
            text=question.strip(),
            delivery=delivery,
            collections=collections,
        )
        await enqueue_question(self.deps.queue, event)

    @app_commands.command(name="forget", description="Forget this conversation; the next question starts afresh.")
    async def forget(self, interaction: discord.Interaction) -> None:
        tenant = self.deps.tenant_of(interaction.guild_id)
        place = place_of(interaction.channel, interaction.channel_id)
        conversations = self.deps.conversations
        if place.thread:
            key = ConversationKey(tenant=tenant, platform="discord", channel=place.channel, thread=place.thread)
            count = int(await conversations.forget(key))
        else:
            count = await conversations.forget_channel(tenant=tenant, platform="discord", channel=place.channel)
        text = "Forgotten: the next question here starts a new conversation." if count else "Nothing to forget here."
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="help", description="What Threadwise does and how to ask it.")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(HELP, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Commands(threadwise_bot(bot)))
