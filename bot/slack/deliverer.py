"""Posts answers to Slack for the worker: 👀 at once, the answer streamed into a placeholder (``chat.update``
at most about once a second), then the final message with the sources as a context block.

The worker stores the placeholder's ts as soon as it is posted; a job retaken after a crash ``resume``s with it, so
the person sees one answer, edited to the end, rather than a stuck partial one and a second."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from agent.schemas import AnswerReply
from bot.events import ChatEvent
from bot.slack.formatting import answer_messages, preface, split_text, to_mrkdwn
from core.logging import get_logger

log = get_logger(__name__)

WORKING_REACTION = "eyes"
GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
"""``chat.update``'s errors for a message that cannot be edited any more (deleted, say): post a new one instead."""


class SlackDeliverer:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._placeholders: dict[str, str] = {}  # event id → ts of the message being written

    def _thread(self, event: ChatEvent) -> str | None:
        return event.delivery.get("thread_ts") or None

    async def working(self, event: ChatEvent) -> None:
        question_ts = event.delivery.get("question_ts") or event.message_id
        try:
            await self.client.reactions_add(channel=event.channel, timestamp=question_ts, name=WORKING_REACTION)
        except SlackApiError as error:  # already reacted (a retried job), or the message is gone
            log.info("slack working reaction skipped", error=error.response.get("error"))

    def resume(self, event: ChatEvent, placeholder_id: str) -> None:
        self._placeholders[event.event_id] = placeholder_id

    async def update(self, event: ChatEvent, partial_text: str) -> str | None:
        """Returns the ts of the placeholder when this call posted it."""
        text = split_text(to_mrkdwn(partial_text))[0]
        text += "\n…" if text.endswith("```") else " …"  # after a closing fence, on a line of its own
        ts = self._placeholders.get(event.event_id)
        if ts is not None and await self._edit(event, ts, text=text) is not None:
            return None
        response = await self.client.chat_postMessage(channel=event.channel, text=text, thread_ts=self._thread(event))
        posted = self._placeholders[event.event_id] = str(response["ts"])
        return posted

    async def _edit(
        self, event: ChatEvent, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> AsyncSlackResponse | None:
        """``chat.update`` of the placeholder ``ts``; None when that message is gone (post a new one)."""
        try:
            return await self.client.chat_update(channel=event.channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as error:
            if error.response.get("error") not in GONE:
                raise
            log.warning("slack placeholder gone; posting a new message", error=error.response.get("error"))
            self._placeholders.pop(event.event_id, None)
            return None

    async def deliver(self, event: ChatEvent, reply: AnswerReply) -> str:
        """Returns the ts of the message holding the answer's last part (the one with the sources)."""
        asked_by = event.delivery.get("asked_by")  # a slash command: the channel has not seen the question
        messages = answer_messages(reply, preface=preface(asked_by, event.text[:300]) if asked_by else None)
        placeholder = self._placeholders.get(event.event_id)
        last_ts = ""
        for index, (text, blocks) in enumerate(messages):
            response = None
            if index == 0 and placeholder is not None:
                response = await self._edit(event, placeholder, text=text, blocks=blocks)
            if response is None:
                response = await self.client.chat_postMessage(
                    channel=event.channel, text=text, blocks=blocks, unfurl_links=False, thread_ts=self._thread(event)
                )
            last_ts = str(response["ts"])
        self._placeholders.pop(event.event_id, None)  # kept until posted: a retried delivery edits it again
        return last_ts
