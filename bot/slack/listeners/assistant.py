"""Slack's assistant container (the AI-app panel and its threads), through Bolt's ``AsyncAssistant``.

A thread started: a greeting and the channel's most-asked questions as suggested prompts
(``bot/slack/assistant_prompts.py``). Bolt keeps the thread's context, the channel the person is looking at, with
the greeting (its metadata) and finds it again for each message. A message: a question enqueued as a DM's is,
searching the collections that channel searches. The worker shows the status while it searches and writes, and
titles the thread with its first question (``SlackDeliverer.working``); the answer is streamed into the thread."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncAssistant
from slack_bolt.context.assistant.thread_context import AssistantThreadContext
from slack_bolt.context.get_thread_context.async_get_thread_context import AsyncGetThreadContext
from slack_bolt.context.say.async_say import AsyncSay
from slack_bolt.context.set_suggested_prompts.async_set_suggested_prompts import AsyncSetSuggestedPrompts
from slack_sdk.web.async_client import AsyncWebClient

from bot.events import enqueue_question
from bot.slack.assistant_prompts import thread_start
from bot.slack.deps import SlackDeps
from bot.slack.listeners.questions import question_text, take_comment_reply, to_chat_event

TITLE_CHARS = 80
"""The thread's title: its first question, cut short."""


def register(app: AsyncApp, deps: SlackDeps) -> None:
    assistant = AsyncAssistant()

    @assistant.thread_started
    async def on_thread_started(
        payload: dict[str, Any], body: dict[str, Any], say: AsyncSay, set_suggested_prompts: AsyncSetSuggestedPrompts
    ) -> None:
        viewing = (payload["assistant_thread"].get("context") or {}).get("channel_id")
        start = await thread_start(deps, tenant=deps.tenant_of(body), channel=viewing)
        await say(start.greeting)
        if start.prompts:
            await set_suggested_prompts(prompts=start.prompts, title=start.prompts_title)

    @assistant.user_message
    async def on_user_message(
        payload: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, get_thread_context: AsyncGetThreadContext
    ) -> None:
        if payload.get("subtype"):  # a file shared, say: not a question (as in any DM)
            return
        if await take_comment_reply(deps, body, payload, client):
            return
        tenant = deps.tenant_of(body)
        # Bolt hands this listener every threaded DM message. A thread with no context stored with our greeting is a
        # DM's own thread (or the app has no assistant container): answered as any DM, with the 👀.
        context: AssistantThreadContext | None = await get_thread_context()
        collections = None
        delivery: dict[str, str] = {}
        if context is not None:
            collections = (
                await deps.channels.get(tenant=tenant, platform="slack", channel=context.channel_id)
            ).collections
            delivery["assistant"] = "1"
            channel, thread = payload["channel"], payload["thread_ts"]
            if await deps.threads.get(tenant=tenant, platform="slack", channel=channel, thread=thread) is None:
                delivery["title"] = question_text(payload.get("text", ""))[:TITLE_CHARS]
        chat_event = to_chat_event(
            body, payload, tenant=tenant, direct=True, collections=collections, delivery=delivery
        )
        if chat_event is not None:
            await enqueue_question(deps.queue, chat_event)

    app.assistant(assistant)
