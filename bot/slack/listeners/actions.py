"""Clicks on the Stop button under an answer being written (``bot/slack/stop_button.py``): the asker's, or a
configured admin's, asks the worker to end the answer there; anyone else is told who may.

Clicks on the 👍/👎 feedback buttons under an answer (``bot/slack/feedback_buttons.py``): each is a vote in the
same store as a 👍/👎 reaction, keyed the same way (one per person and answer: the other button, or the other
reaction, changes it), and after a 👎 the bot asks what was missing just as for a reaction.

A button's value names its stored answer, which counts only when it was given in the workspace the click comes
from. Anything else (a value we did not write, an answer that is gone or another workspace's) is acknowledged
and ignored: Slack shows an error on a button that gets no answer, and there is nothing for the person to fix."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.events import FeedbackEvent
from bot.slack.deps import SlackDeps
from bot.slack.feedback_buttons import FEEDBACK_ACTION, button_vote
from bot.slack.listeners.reactions import take_vote
from bot.slack.stop_button import STOP_ACTION, stop_request
from core.logging import get_logger

log = get_logger(__name__)

ONLY_THE_ASKER = "Only the person who asked can stop this answer."


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.action(FEEDBACK_ACTION)
    async def on_feedback_button(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()  # before anything else: the vote is a database write, the 👎's question a Slack call
        vote = button_vote(action.get("value"))
        container = body.get("container") or {}
        channel, message_ts = _text(container.get("channel_id")), _text(container.get("message_ts"))
        user = _text((body.get("user") or {}).get("id"))
        if vote is None or not (channel and message_ts and user):
            log.info("feedback button ignored: not a value we wrote", value=_text(action.get("value"))[:100])
            return
        feedback = FeedbackEvent(
            platform="slack",
            tenant=deps.tenant_of(body),
            channel=channel,
            message_id=message_ts,
            user_id=user,
            score=vote.score,
            reaction=vote.reaction,
        )
        if await take_vote(deps, client, feedback, answer_id=vote.answer_id) is None:
            log.info("feedback button ignored: no such answer in this workspace", answer_id=vote.answer_id)

    @app.action(STOP_ACTION)
    async def on_stop_button(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        request = stop_request(action.get("value"))
        user = _text((body.get("user") or {}).get("id"))
        channel = _text((body.get("container") or {}).get("channel_id"))
        if request is None or deps.stops is None or not (user and channel):
            log.info("stop button ignored: not a value we wrote", value=_text(action.get("value"))[:100])
            return
        if user != request.asker and user not in deps.admins:
            await client.chat_postEphemeral(channel=channel, user=user, text=ONLY_THE_ASKER)
            return
        stopping = await deps.stops.request_stop(platform="slack", event_id=request.event_id)
        log.info("stop requested" if stopping else "stop button ignored: the answer is done", event_id=request.event_id)
