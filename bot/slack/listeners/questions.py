"""Questions: @mentions in channels, direct messages, and follow-ups without a mention in threads the bot answered
(``bot/follow_ups.py``). Each is turned into a ``ChatEvent`` and enqueued; the HTTP reply to Slack goes out as soon
as the queue has it (well inside Slack's 3 seconds)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from agent.schemas import ConversationKey
from bot.events import ChatEvent, enqueue_question
from bot.feedback import take_comment
from bot.follow_ups import judge_follow_up
from bot.slack.deps import SlackDeps
from bot.slack.workspaces import workspace_delivery

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_ADDRESSED = re.compile(r"<(?:@[A-Z0-9]+|!subteam\^[A-Z0-9]+|!here|!channel|!everyone)(?:\|[^>]*)?>")
"""Someone (a person, a user group, the channel) addressed by mention markup."""
_QUESTION_WORDS = frozenset(
    [
        "how",
        "what",
        "why",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "can",
        "could",
        "does",
        "do",
        "is",
        "are",
        "should",
    ]
)
COMMENT_THANKS = "Thanks, I've passed that on to the people who look after the docs."


def question_text(text: str) -> str:
    """The message without the bot's (or anyone's) mention markup."""
    return " ".join(_MENTION.sub(" ", text or "").split())


def looks_like_a_question(text: str) -> bool:
    """For channels in ``auto`` mode: a question mark, or a question word first."""
    first = text.strip().split(" ", 1)[0].lower().rstrip(",:")
    return text.rstrip().endswith("?") or first in _QUESTION_WORDS


def to_chat_event(
    body: dict[str, Any],
    event: dict[str, Any],
    *,
    tenant: str,
    direct: bool,
    collections: list[str] | None = None,
    delivery: dict[str, str] | None = None,
) -> ChatEvent | None:
    """``delivery``: more for the worker's deliverer (the assistant container's, say)."""
    text = question_text(event.get("text", ""))
    if not text:
        return None
    ts = event["ts"]
    thread_ts = event.get("thread_ts")
    # A mention starts (or continues) a thread: the thread is the conversation. A DM outside a thread is one
    # conversation with the whole DM channel, answered in place.
    thread = thread_ts or ("" if direct else ts)
    # The workspace: whose token posts the answer.
    delivered = {"question_ts": ts, **workspace_delivery(body), **(delivery or {})}
    if thread:
        delivered["thread_ts"] = thread
    return ChatEvent(
        platform="slack",
        event_id=body.get("event_id") or f"{event['channel']}:{ts}",
        tenant=tenant,
        channel=event["channel"],
        thread=thread,
        user_id=event.get("user", "unknown"),
        message_id=ts,
        text=text,
        delivery=delivered,
        collections=collections,
    )


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any]) -> None:
        tenant = deps.tenant_of(body)
        choice = await deps.channels.get(tenant=tenant, platform="slack", channel=event["channel"])
        if choice.mode == "off":
            return
        chat_event = to_chat_event(body, event, tenant=tenant, direct=False, collections=choice.collections)
        if chat_event is not None:
            await enqueue_question(deps.queue, chat_event)

    @app.event("message")
    async def on_message(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        # Edits, joins, bot posts (ours included) and other subtypes are not questions.
        if event.get("subtype") or event.get("bot_id") or event.get("user") == context.bot_user_id:
            return
        if await take_comment_reply(deps, body, event, client):
            return
        tenant = deps.tenant_of(body)
        direct = event.get("channel_type") == "im"
        text = event.get("text", "")
        if not direct and event.get("thread_ts") not in (None, event["ts"]):
            await _follow_up(deps, body, event, tenant=tenant, bot_user_id=context.bot_user_id or "")
            return
        if not direct:
            # In channels the bot answers @mentions (the app_mention listener); in `auto` mode also questions
            # that start a conversation (not replies inside other threads).
            if _MENTION.search(text) or event.get("thread_ts") or not looks_like_a_question(text):
                return
            choice = await deps.channels.get(tenant=tenant, platform="slack", channel=event["channel"])
            if choice.mode != "auto":
                return
            chat_event = to_chat_event(body, event, tenant=tenant, direct=False, collections=choice.collections)
        else:
            chat_event = to_chat_event(body, event, tenant=tenant, direct=True)
        if chat_event is not None:
            await enqueue_question(deps.queue, chat_event)


async def _follow_up(
    deps: SlackDeps, body: dict[str, Any], event: dict[str, Any], *, tenant: str, bot_user_id: str
) -> None:
    """A message inside a thread, without the bot's mention (the ``app_mention`` listener takes those): a follow-up
    to answer, people talking among themselves, or nothing for the bot."""
    text = event.get("text", "")
    if bot_user_id and f"<@{bot_user_id}" in text:
        return
    channel, thread = event["channel"], event["thread_ts"]
    # The channel's settings first: they are cached, while the thread's record is a database read.
    choice = await deps.channels.get(tenant=tenant, platform="slack", channel=channel)
    if choice.mode == "off" or choice.follow_ups == "off":
        return
    state = await deps.threads.get(tenant=tenant, platform="slack", channel=channel, thread=thread)
    if state is None:  # a thread the bot did not answer in (most threads)
        return
    verdict = judge_follow_up(
        choice.follow_ups,
        state,
        author=event.get("user", ""),
        text=question_text(text),
        addresses_someone_else=_ADDRESSED.search(text) is not None,
    )
    if verdict == "aside":
        await deps.threads.aside(tenant=tenant, platform="slack", channel=channel, thread=thread)
    elif verdict == "answer":
        chat_event = to_chat_event(body, event, tenant=tenant, direct=False, collections=choice.collections)
        if chat_event is not None:
            await enqueue_question(deps.queue, chat_event)


async def take_comment_reply(
    deps: SlackDeps, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient
) -> bool:
    """After a 👎 the bot asked what was missing: the user's next message in that thread is the answer."""
    thread = event.get("thread_ts") or ""
    if not thread and event.get("channel_type") != "im":
        return False
    key = ConversationKey(tenant=deps.tenant_of(body), platform="slack", channel=event["channel"], thread=thread)
    comment = question_text(event.get("text", "")) or event.get("text", "")
    if not await take_comment(deps.feedback, key, user_id=event.get("user", ""), comment=comment):
        return False
    await client.chat_postMessage(channel=event["channel"], text=COMMENT_THANKS, thread_ts=thread or None)
    return True
