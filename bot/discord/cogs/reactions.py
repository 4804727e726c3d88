"""👍/👎 on the bot's answers become feedback votes; after a 👎 the bot asks what was missing (the person's next
reply there becomes the vote's comment, see the questions cog). ✅ by a member who may manage the server also
saves the answer as a verified answer; taking the ✅ back removes it."""

from __future__ import annotations

import discord
from discord.ext import commands

from agent.feedback import AnswerRef
from bot.discord.bot import ThreadwiseBot, threadwise_bot
from bot.events import FeedbackEvent
from bot.feedback import apply_feedback, apply_verification

ASK_WHAT_WAS_MISSING = (
    "Thanks for the feedback, <@{user}>. What was missing or wrong? Reply to this message and I'll pass it on."
)
_SKIN_TONES = "".join(chr(code) for code in range(0x1F3FB, 0x1F400))


class Reactions(commands.Cog):
    def __init__(self, bot: ThreadwiseBot) -> None:
        self.bot = bot
        self.deps = bot.deps

    def _feedback(self, payload: discord.RawReactionActionEvent, *, removed: bool) -> FeedbackEvent | None:
        me = self.bot.user
        if me is None or payload.user_id == me.id or not payload.emoji.is_unicode_emoji():
            return None
        # Reaction-add events say whose message it is; removals do not (the answer lookup then decides).
        if payload.message_author_id is not None and payload.message_author_id != me.id:
            return None
        name = payload.emoji.name.strip(_SKIN_TONES)
        score = 1 if name in self.deps.positive else -1 if name in self.deps.negative else 0
        if score == 0:
            return None
        return FeedbackEvent(
            platform="discord",
            tenant=self.deps.tenant_of(payload.guild_id),
            channel=str(payload.channel_id),
            message_id=str(payload.message_id),
            user_id=str(payload.user_id),
            score=0 if removed else score,
            reaction=name,
        )

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        feedback = self._feedback(payload, removed=False)
        if feedback is None:
            return
        answer = await apply_feedback(self.deps.feedback, feedback)
        if answer is not None and feedback.score < 0:
            await self._reply(
                payload,
                ASK_WHAT_WAS_MISSING.format(user=payload.user_id),
                allowed_mentions=discord.AllowedMentions(users=[discord.Object(id=payload.user_id)]),
            )
        await self._verify(payload, feedback, answer)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        feedback = self._feedback(payload, removed=True)
        if feedback is None:
            return
        answer = await apply_feedback(self.deps.feedback, feedback)
        await self._verify(payload, feedback, answer)

    async def _verify(
        self, payload: discord.RawReactionActionEvent, feedback: FeedbackEvent, answer: AnswerRef | None
    ) -> None:
        """A ✅ by a member who may manage the server, on an answer: save it, or on removal take it back."""
        verified = self.deps.verified
        if answer is None or verified is None or feedback.reaction not in self.deps.verify or payload.guild_id is None:
            return
        member = payload.member  # only reaction-add events carry the member
        if member is None:
            guild = self.bot.get_guild(payload.guild_id)
            if guild is None:
                return
            member = guild.get_member(payload.user_id) or await guild.fetch_member(payload.user_id)
        if not member.guild_permissions.manage_guild:
            return
        text = await apply_verification(verified, answer, feedback)
        if text is not None:
            await self._reply(payload, text)

    async def _reply(
        self,
        payload: discord.RawReactionActionEvent,
        text: str,
        *,
        allowed_mentions: discord.AllowedMentions | None = None,
    ) -> None:
        """A reply to the answer reacted to, pinging nobody unless asked."""
        channel = self.bot.get_partial_messageable(payload.channel_id, guild_id=payload.guild_id)
        await channel.send(
            text,
            reference=discord.MessageReference(
                message_id=payload.message_id, channel_id=payload.channel_id, fail_if_not_exists=False
            ),
            allowed_mentions=allowed_mentions or discord.AllowedMentions.none(),
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Reactions(threadwise_bot(bot)))
