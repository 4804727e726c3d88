"""Posts answers to Discord for the worker, over REST only (a worker needs no gateway connection).

``/ask`` is answered with followups on the interaction's webhook (valid 15 minutes); when that token has expired
or was never acknowledged, the answer is posted to the channel instead. Mentions and DMs are answered with a reply
to the question. Long answers are split into several messages; the sources embed goes under the last one.
"""

from __future__ import annotations

from typing import Any

import discord

from agent.schemas import AnswerReply
from bot.discord.formatting import answer_messages, preface, sources_embed
from bot.events import ChatEvent
from core.logging import get_logger

log = get_logger(__name__)

WORKING_REACTION = "👀"
UNKNOWN_INTERACTION = 10062
"""Discord's code for an interaction acknowledged too late (after 3 seconds) or whose token expired."""
# Unknown interaction, unknown webhook, invalid webhook token: the interaction can no longer be answered.
EXPIRED_CODES = frozenset({UNKNOWN_INTERACTION, 10015, 50027})
NO_MENTIONS = discord.AllowedMentions.none()
"""Answers ping no one: documents and models write text, and Discord enforces this even if a mention slips by."""


class DiscordDeliverer:
    def __init__(self, client: discord.Client) -> None:
        self.client = client

    def offers_stop(self, event: ChatEvent) -> bool:
        return False  # no Stop button on Discord

    async def working(self, event: ChatEvent) -> None:
        """A 👀 on the question (a deferred ``/ask`` already shows that the bot is thinking)."""
        if event.delivery.get("kind") != "reply":
            return
        try:
            await self.client.http.add_reaction(
                int(event.delivery["channel_id"]), int(event.delivery["message_id"]), WORKING_REACTION
            )
        except discord.HTTPException as error:  # no permission to react, or the message is gone
            log.info("discord working reaction skipped", status=error.status, code=error.code)

    def resume(self, event: ChatEvent, placeholder_id: str) -> None:
        """Nothing: no placeholder is ever posted (see ``update``), so there is none to continue in."""

    async def update(self, event: ChatEvent, partial_text: str) -> None:
        """Nothing: Discord rate-limits edits hard, so the answer arrives whole (and no partial one is left
        behind by a crash)."""

    async def deliver(self, event: ChatEvent, reply: AnswerReply) -> str:
        """Returns the id of the message holding the answer's last part (the one with the sources)."""
        if event.delivery.get("kind") == "interaction":
            try:
                return await self._followup(event, reply)
            except discord.HTTPException as error:
                if error.code not in EXPIRED_CODES:
                    raise
                log.warning(
                    "discord interaction expired; posting the answer to the channel instead",
                    status=error.status,
                    code=error.code,
                )
        return await self._post(event, reply)

    async def _followup(self, event: ChatEvent, reply: AnswerReply) -> str:
        webhook = discord.Webhook.partial(
            int(event.delivery["application_id"]), event.delivery["token"], client=self.client
        )
        last_id = ""
        for options in self._messages(reply):
            sent = await webhook.send(wait=True, allowed_mentions=NO_MENTIONS, **options)
            last_id = str(sent.id)
        return last_id

    async def _post(self, event: ChatEvent, reply: AnswerReply) -> str:
        channel = self.client.get_partial_messageable(int(event.delivery["channel_id"]))
        question_id = event.delivery.get("message_id")
        asked_by = event.delivery.get("asked_by")  # a slash command: the channel has not seen the question
        mentions, first = NO_MENTIONS, None
        if asked_by and not question_id:  # the one ping we send: the asker, told where their answer is
            mentions = discord.AllowedMentions.none()
            mentions.users = [discord.Object(int(asked_by))]
            first = preface(asked_by, event.text[:300])
        last_id = ""
        for index, options in enumerate(self._messages(reply, preface=first)):
            if index == 0 and question_id:
                options["reference"] = discord.MessageReference(
                    message_id=int(question_id), channel_id=channel.id, fail_if_not_exists=False
                )
            sent = await channel.send(allowed_mentions=mentions, **options)
            last_id = str(sent.id)
        return last_id

    @staticmethod
    def _messages(reply: AnswerReply, *, preface: str | None = None) -> list[dict[str, Any]]:
        pieces = answer_messages(reply, preface=preface)
        messages: list[dict[str, Any]] = [{"content": piece} for piece in pieces]
        embed = sources_embed(reply)
        if embed is not None:
            messages[-1]["embed"] = embed
        return messages
