"""Questions: @mentions in channels and threads, direct messages, follow-ups without a mention, and new posts in the
forums that chose so (``bot/discord/forum_posts.py``). Each becomes a ``ChatEvent`` keyed by the message id (a
message seen twice, e.g. after a gateway resume, is answered once) and goes into the queue.

Follow-ups (``bot/follow_ups.py``, chosen per channel with ``/threadwise followups``): a later message in a thread
the bot answered is judged as one; a reply to one of the bot's messages is addressed to it, so it is answered unless
it is a thank-you, it mentions someone else, or (``asker``) it comes from someone other than the person that message
answered. Discord shows the text of these messages only to a bot with the Message Content intent
(``DISCORD_MESSAGE_CONTENT``); without it they arrive empty and are left alone.

A reply to the bot from someone whose 👎 is waiting for a comment is that comment, not a question (and so is their
next message in a thread the bot answered, when the bot can read it).
"""

from __future__ import annotations

import discord
from discord.ext import commands

from agent.schemas import ConversationKey
from bot.channels import ChannelChoice
from bot.discord.bot import ThreadwiseBot, threadwise_bot
from bot.discord.deps import Place
from bot.discord.forum_posts import post_question, starter_post
from bot.discord.places import guild_id_of, place_of, question_text
from bot.events import ChatEvent, enqueue_question
from bot.feedback import take_comment
from bot.follow_ups import ThreadState, judge_follow_up
from core.logging import get_logger

log = get_logger(__name__)

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
        post = starter_post(message)
        if guild_id is not None and all(user.id != me.id for user in message.mentions):
            if post is not None:
                await self._post(message, post, guild_id, me.id)
            else:
                await self._unmentioned(message, guild_id, me.id)
            return
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
        if post is not None:  # a forum post that mentions the bot: its title and tags are part of the question
            text = post_question(post, text)
        if text:
            await self._enqueue(message, tenant, place, text, collections)

    async def _post(self, message: discord.Message, post: discord.Thread, guild_id: int, bot_id: int) -> None:
        """A new forum post that does not mention the bot: a question if its forum chose so (``/threadwise forum``)
        and Discord shows the bot its text."""
        if not self.bot.intents.message_content:
            return  # the post arrives empty, and its title alone is not answered
        tenant = self.deps.tenant_of(guild_id)
        place = place_of(post, post.id)
        choice = await self.deps.channels.get(tenant=tenant, platform="discord", channel=place.channel)
        if choice.answer_posts and choice.mode != "off":
            text = post_question(post, question_text(message.content, bot_id))
            await self._enqueue(message, tenant, place, text, choice.collections)

    async def _unmentioned(self, message: discord.Message, guild_id: int, bot_id: int) -> None:
        """A server message that does not mention the bot: a follow-up for it, or none of its business."""
        text = question_text(message.content, bot_id)
        place = place_of(message.channel, message.channel.id)
        replying = message.type is discord.MessageType.reply
        if not text or not (replying or place.thread):  # no text: all Discord shows without the intent
            return
        tenant = self.deps.tenant_of(guild_id)
        choice = await self.deps.channels.get(tenant=tenant, platform="discord", channel=place.channel)
        if choice.mode == "off" or choice.follow_ups == "off":
            return
        author = str(message.author.id)
        to_someone_else = addresses_someone_else(message, bot_id)
        if replying:
            replied, fetched = await self._replied_to(message)
            if replied is None or replied.author.id != bot_id:
                to_someone_else = True  # a reply to someone else's message (or to one that is gone)
            elif await self._take_comment(message, tenant, place, bot_id):
                return
            elif (asker := await self._asker_to_match(choice, author, replied, may_fetch=not fetched)) is not None:
                state = ThreadState(asker=asker, others_since=0)
                verdict = judge_follow_up(  # a reply to the bot is addressed to it: no one talked in between
                    choice.follow_ups, state, author=author, text=text, addresses_someone_else=to_someone_else
                )
                if verdict == "answer":
                    await self._enqueue(message, tenant, place, text, choice.collections)
                return
            # Else whose question that message answered is unknown (a later part of a long answer, say): in a
            # thread, the thread's record decides; elsewhere it is not answered.
        if not place.thread:
            return
        key = {"tenant": tenant, "platform": "discord", "channel": place.channel, "thread": place.thread}
        thread = await self.deps.threads.get(**key)
        if thread is not None and await self._take_comment(message, tenant, place, bot_id):
            return
        verdict = judge_follow_up(
            choice.follow_ups, thread, author=author, text=text, addresses_someone_else=to_someone_else
        )
        if verdict == "answer":
            await self._enqueue(message, tenant, place, text, choice.collections)
        elif verdict == "aside":
            await self.deps.threads.aside(**key)

    async def _enqueue(
        self, message: discord.Message, tenant: str, place: Place, text: str, collections: list[str] | None
    ) -> None:
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

    async def _replied_to(self, message: discord.Message) -> tuple[discord.Message | None, bool]:
        """The message ``message`` replies to (None: gone or unreadable), and whether it took a request: Discord
        sends it along with the reply, and discord.py may have it cached; else it is fetched."""
        reference = message.reference
        if reference is None or reference.message_id is None:
            return None, False
        if isinstance(reference.resolved, discord.Message):
            return reference.resolved, False
        if isinstance(reference.resolved, discord.DeletedReferencedMessage):
            return None, False
        if (cached := reference.cached_message) is not None:
            return cached, False
        return await self._fetch(reference.channel_id, reference.message_id), True

    async def _asker_to_match(
        self, choice: ChannelChoice, author: str, answer: discord.Message, *, may_fetch: bool
    ) -> str | None:
        """Who may follow up on the bot's ``answer``: in ``anyone`` mode the replier, else its asker."""
        if choice.follow_ups == "anyone":
            return author
        return await self._asker_of(answer, may_fetch=may_fetch)

    async def _asker_of(self, answer: discord.Message, *, may_fetch: bool) -> str | None:
        """Whom the bot's message answered: the member who used ``/ask``, or the author of the question it is a
        reply to. At most one request in all: a fetched answer comes with its question."""
        if answer.interaction_metadata is not None:
            return str(answer.interaction_metadata.user.id)
        reference = answer.reference
        if reference is None or reference.message_id is None:
            return None
        question = reference.resolved if isinstance(reference.resolved, discord.Message) else None
        question = question or reference.cached_message
        if question is None and may_fetch and not isinstance(reference.resolved, discord.DeletedReferencedMessage):
            question = await self._fetch(reference.channel_id, reference.message_id)
        return None if question is None else str(question.author.id)

    async def _fetch(self, channel_id: int, message_id: int) -> discord.Message | None:
        try:
            return await self.bot.get_partial_messageable(channel_id).fetch_message(message_id)
        except discord.HTTPException as error:  # deleted, or the bot may not read the channel's history
            log.info("discord replied-to message not fetched", status=error.status, code=error.code)
            return None

    async def _take_comment(self, message: discord.Message, tenant: str, place: Place, bot_id: int) -> bool:
        key = ConversationKey(tenant=tenant, platform="discord", channel=place.channel, thread=place.thread)
        # A comment that is only a mention keeps its raw text rather than becoming empty.
        comment = question_text(message.content, bot_id) or message.content
        if not await take_comment(self.deps.feedback, key, user_id=str(message.author.id), comment=comment):
            return False
        await message.reply(COMMENT_THANKS, mention_author=False)
        return True


def addresses_someone_else(message: discord.Message, bot_id: int) -> bool:
    """A mention of anyone but the bot: another member, a role, ``@everyone`` or ``@here`` (written by someone
    who may not ping them, it is still addressed to them)."""
    return (
        message.mention_everyone
        or bool(message.raw_role_mentions)
        or any(user.id != bot_id for user in message.mentions)
        or "@everyone" in message.content
        or "@here" in message.content
    )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Questions(threadwise_bot(bot)))
