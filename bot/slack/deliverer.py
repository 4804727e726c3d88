"""Posts answers to Slack for the worker: 👀 at once, the answer streamed into a placeholder (``chat.update``
at most about once a second), then the final message with the sources as a context block."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agent.schemas import AnswerReply
from bot.events import ChatEvent
from bot.slack.formatting import answer_messages, split_text, to_mrkdwn
from core.logging import get_logger

log = get_logger(__name__)

WORKING_REACTION = "eyes"


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

    async def update(self, event: ChatEvent, partial_text: str) -> None:
        text = split_text(to_mrkdwn(partial_text))[0] + " …"
        ts = self._placeholders.get(event.event_id)
        if ts is None:
            response = await self.client.chat_postMessage(
                channel=event.channel, text=text, thread_ts=self._thread(event)
            )
            self._placeholders[event.event_id] = str(response["ts"])
        else:
            await self.client.chat_update(channel=event.channel, ts=ts, text=text)

    async def deliver(self, event: ChatEvent, reply: AnswerReply) -> str:
        """Returns the ts of the message holding the answer's last part (the one with the sources)."""
        asked_by = event.delivery.get("asked_by")  # a slash command: the channel has not seen the question
        preface = f"<@{asked_by}> asked: _{event.text[:300]}_" if asked_by else None
        messages = answer_messages(reply, preface=preface)
        placeholder = self._placeholders.pop(event.event_id, None)
        last_ts = ""
        for index, (text, blocks) in enumerate(messages):
            if index == 0 and placeholder is not None:
                response = await self.client.chat_update(
                    channel=event.channel, ts=placeholder, text=text, blocks=blocks
                )
            else:
                response = await self.client.chat_postMessage(
                    channel=event.channel, text=text, blocks=blocks, unfurl_links=False, thread_ts=self._thread(event)
                )
            last_ts = str(response["ts"])
        return last_ts
