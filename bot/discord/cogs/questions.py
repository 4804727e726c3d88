"""Questions: @mentions in channels and threads, and direct messages. Each becomes a ``ChatEvent`` keyed by the
message id (a message seen twice, e.g. after a gateway resume, is answered once) and goes into the queue.

A reply to the bot from someone whose 👎 is waiting for a comment is that comment, not a question.
"""

from __future__ import annotations

import discord
from discord.ext import commands

from agent.schemas import ConversationKey
from bot.discord.bot import ThreadwiseBot, threadwise_bot
from bot.discord.deps import Place
from bot.discord.places import guild_id_of, place_of, question_text
from bot.events import ChatEvent, enqueue_question
from bot.feedback import take_comment

COMMENT_THANKS = "Thanks, I've passed that on to the people who look after the docs."


class Questions(commands.Cog):
    def __init__(self, bot: ThreadwiseBot) -> None:
        self.bot = bot
        self.deps = bot.deps

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot:  # other bots, webhooks and the bot itself
            return
        guild_id = guild_id_of(message)
        direct = guild_id is None
        if not direct and all(user.id != me.id for user in message.mentions):
            return  # without the message-content intent nothing else is readable: hence no `auto` mode here
        tenant = self.deps.tenant_of(guild_id)
        place = place_of(message.channel, message.channel.id)
        if (direct or message.reference is not None) and await self._take_comment(message, tenant, place, me.id):
            return
        collections = None
        if not direct:
            choice = await self.deps.channels.get(tenant=tenant, platform="discord", channel=place.channel)
            if choice.mode == "off":
                return
            collections = choice.collections
        text = question_text(message.content, me.id)
        if not text:
            return
        event = ChatEvent(
            platform="discord",
            event_id=f"message:{message.id}",
            tenant=tenant,
            channel=place.channel,
            thread=place.thread,
            user_id=str(message.author.id),
            message_id=str(message.id),
            text=text,
            delivery={"kind": "reply", "channel_id": str(message.channel.id), "message_id": str(message.id)},
            collections=collections,
        )
        await enqueue_question(self.deps.queue, event)

    async def _take_comment(self, message: discord.Message, tenant: str, place: Place, bot_id: int) -> bool:
        key = ConversationKey(tenant=tenant, platform="discord", channel=place.channel, thread=place.thread)
        # A comment that is only a mention keeps its raw text rather than becoming empty.
        comment = question_text(message.content, bot_id) or message.content
        if not await take_comment(self.deps.feedback, key, user_id=str(message.author.id), comment=comment):
            return False
        await message.reply(COMMENT_THANKS, mention_author=False)
        return True


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Questions(threadwise_bot(bot)))
