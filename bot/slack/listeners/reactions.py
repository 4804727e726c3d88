"""👍/👎 on the bot's answers become feedback votes; after a 👎 the bot asks what was missing (``take_vote``, shared
with the feedback buttons in ``actions.py``). ✅ by an admin also saves the answer as a verified answer (taking the
✅ back removes it)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from agent.feedback import AnswerRef
from bot.events import FeedbackEvent
from bot.feedback import apply_feedback, apply_verification
from bot.slack.admins import is_admin
from bot.slack.deps import SlackDeps

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


def _feedback(
    deps: SlackDeps, body: dict[str, Any], event: dict[str, Any], *, bot_user_id: str | None, removed: bool
) -> FeedbackEvent | None:
    """A 👍/👎 (by the configured emoji sets) on a message of the bot's, as a platform-neutral event."""
    score = _score(deps, event.get("reaction", ""))
    item = event.get("item", {})
    if score == 0 or item.get("type") != "message" or event.get("item_user") != bot_user_id:
        return None
    return FeedbackEvent(
        platform="slack",
        tenant=deps.tenant_of(body),
        channel=item.get("channel", ""),
        message_id=item.get("ts", ""),
        user_id=event.get("user", "unknown"),
        score=0 if removed else score,
        reaction=event["reaction"],
    )


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.event("reaction_added")
    async def on_reaction_added(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        feedback = _feedback(deps, body, event, bot_user_id=context.bot_user_id, removed=False)
        if feedback is None:
            return
        answer = await take_vote(deps, client, feedback)
        await _verify(deps, client, feedback, answer)

    @app.event("reaction_removed")
    async def on_reaction_removed(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        feedback = _feedback(deps, body, event, bot_user_id=context.bot_user_id, removed=True)
        if feedback is None:
            return
        answer = await apply_feedback(deps.feedback, feedback)
        await _verify(deps, client, feedback, answer)


async def take_vote(
    deps: SlackDeps, client: AsyncWebClient, feedback: FeedbackEvent, *, answer_id: int | None = None
) -> AnswerRef | None:
    """Store a 👍/👎 (a reaction, or a feedback button naming its stored answer ``answer_id``) and after a 👎 ask in
    the answer's thread what was missing: the voter's next message there becomes the vote's comment
    (``bot.feedback.take_comment``). Returns the answer voted on; None when it is no answer of this workspace."""
    answer = await apply_feedback(deps.feedback, feedback, answer_id=answer_id)
    if answer is not None and feedback.score < 0:
        await client.chat_postMessage(
            channel=feedback.channel,
            text=ASK_WHAT_WAS_MISSING.format(user=feedback.user_id),
            thread_ts=answer.thread or None,
        )
    return answer


async def _verify(deps: SlackDeps, client: AsyncWebClient, feedback: FeedbackEvent, answer: AnswerRef | None) -> None:
    """A ✅ by an admin on an answer (and an app that keeps verified answers): save it, or on removal take it back."""
    name = feedback.reaction.split("::", 1)[0]
    if answer is None or deps.verified is None or name not in deps.verify:
        return
    if not await is_admin(client, feedback.user_id, deps.admins):
        return
    text = await apply_verification(deps.verified, answer, feedback)
    if text is not None:
        await client.chat_postMessage(channel=feedback.channel, text=text, thread_ts=answer.thread or None)
