"""👍/👎 on the bot's answers become feedback votes; after a 👎 the bot asks what was missing."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.deps import SlackDeps
from core.logging import get_logger

log = get_logger(__name__)

ASK_WHAT_WAS_MISSING = (
    "Thanks for the feedback, <@{user}>. What was missing or wrong? Reply in this thread and I'll pass it on."
)


def _score(deps: SlackDeps, reaction: str) -> int:
    name = reaction.split("::", 1)[0]  # skin tones arrive as "+1::skin-tone-2"
    if name in deps.positive:
        return 1
    if name in deps.negative:
        return -1
    return 0


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.event("reaction_added")
    async def on_reaction_added(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        score = _score(deps, event.get("reaction", ""))
        item = event.get("item", {})
        if score == 0 or item.get("type") != "message" or event.get("item_user") != context.bot_user_id:
            return
        answer = await deps.feedback.find_answer(
            platform="slack", tenant=deps.tenant_of(body), platform_message_id=item.get("ts", "")
        )
        if answer is None:
            return  # a message of ours that is not an answer (a notice, a follow-up question)
        user = event.get("user", "unknown")
        await deps.feedback.vote(message_id=answer.message_id, user_id=user, score=score, reaction=event["reaction"])
        log.info("slack feedback", score=score, message_id=answer.message_id, channel=answer.channel)
        if score < 0:
            await deps.feedback.await_comment(message_id=answer.message_id, user_id=user)
            await client.chat_postMessage(
                channel=item["channel"], text=ASK_WHAT_WAS_MISSING.format(user=user), thread_ts=answer.thread or None
            )

    @app.event("reaction_removed")
    async def on_reaction_removed(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext) -> None:
        item = event.get("item", {})
        if _score(deps, event.get("reaction", "")) == 0 or event.get("item_user") != context.bot_user_id:
            return
        answer = await deps.feedback.find_answer(
            platform="slack", tenant=deps.tenant_of(body), platform_message_id=item.get("ts", "")
        )
        if answer is not None:
            await deps.feedback.withdraw(
                message_id=answer.message_id, user_id=event.get("user", ""), reaction=event["reaction"]
            )
