"""Platform-neutral events: what a Slack or Discord listener hands to the queue, and what comes back.

Listeners only translate a platform's payload into these models and enqueue them; workers answer them with the
agent and give the ``Reply`` to the platform's deliverer. Nothing here knows Slack or Discord.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from agent.schemas import AnswerReply, ConversationKey
from core.logging import get_logger

log = get_logger(__name__)

Platform = Literal["slack", "discord"]


class ChatEvent(BaseModel):
    """A question someone asked the bot (a mention, a DM, a slash command)."""

    platform: Platform
    event_id: str = Field(min_length=1, max_length=200)
    """The platform's id for this delivery: retried or duplicated deliveries carry the same one."""
    tenant: str = Field(min_length=1, max_length=200)
    """The workspace (Slack team) or server (Discord guild); DMs use the platform's own tenant."""
    channel: str = Field(min_length=1, max_length=200)
    thread: str = Field(default="", max_length=200)
    """The conversation key inside the channel ('' when the channel itself is the conversation)."""
    user_id: str = Field(min_length=1, max_length=200)
    message_id: str = Field(default="", max_length=200)
    """The question's platform message id (where a reaction or a reply attaches)."""
    text: str = Field(min_length=1, max_length=40_000)
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    trace_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    delivery: dict[str, str] = {}
    """What the deliverer needs to reply (e.g. Slack's thread_ts, a Discord interaction token)."""
    collections: list[str] | None = None
    """The channel's collections (set by its admins); None means the configured default."""

    @property
    def conversation(self) -> ConversationKey:
        return ConversationKey(tenant=self.tenant, platform=self.platform, channel=self.channel, thread=self.thread)


class FeedbackEvent(BaseModel):
    """A reaction on one of the bot's answers: +1, -1, or 0 when the reaction was removed."""

    platform: Platform
    tenant: str
    channel: str
    message_id: str
    """The platform id of the bot's answer that was reacted to."""
    user_id: str
    score: Literal[-1, 0, 1]
    reaction: str


class RecipientGone(Exception):
    """Nothing can be posted where the question was asked, for good (the app was uninstalled from the workspace):
    the worker ends the job instead of retrying it or apologising."""


class Deliverer(Protocol):
    """Posts the bot's replies on one platform; the worker calls it, never the listener."""

    async def working(self, event: ChatEvent) -> None:
        """Show at once that the bot is on it (a 👀 reaction, a placeholder)."""

    def resume(self, event: ChatEvent, placeholder_id: str) -> None:
        """Continue in the message an earlier run of this job posted (it crashed): the updates and the answer
        edit it; a new one is posted only when it is gone."""

    def offers_stop(self, event: ChatEvent) -> bool:
        """Whether the answer being shown has a Stop button under it: only then does the worker read, at each
        update, whether someone pressed it."""

    async def update(self, event: ChatEvent, partial_text: str) -> str | None:
        """Show the answer as it is written (at most about once a second). Returns the id of the message when this
        call posted it, for the worker to store before going on (a crash then leaves no second answer)."""

    async def deliver(self, event: ChatEvent, reply: AnswerReply) -> str:
        """Post the final answer with its sources (into the message the updates showed, if any); returns the
        platform message id of the answer."""


class EventSink(Protocol):
    """Where listeners put questions: the durable queue. ``False`` means a duplicate delivery, dropped."""

    async def enqueue(self, event: ChatEvent) -> bool: ...


async def enqueue_question(sink: EventSink, event: ChatEvent) -> bool:
    """Queue a question from any listener or slash command, with the one log line that carries its trace id from
    the listener to the delivered answer. ``False`` when this delivery was seen before (dropped)."""
    fresh = await sink.enqueue(event)
    log.info(
        f"{event.platform} question queued" if fresh else f"{event.platform} duplicate delivery dropped",
        event_id=event.event_id,
        tenant=event.tenant,
        channel=event.channel,
        trace_id=event.trace_id,
    )
    return fresh
